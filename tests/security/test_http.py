"""The HTTP surface and tokens (issue 15, point 5): methods, HEAD, CSP and framing,
``Server:``, the internal metrics port, strict token parsing with one uniform 401, and the
read-only report token."""

from __future__ import annotations

import time
from urllib.parse import quote

import msgspec
import pytest

from edge import auth
from parley.client import Client
from parley.node import Node
from tests.conftest import TEST_SECRET, TIME, ws_url
from tests.security.conftest import get, stored_report

SECRET = TEST_SECRET.encode()
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "get"]
)
async def test_methods_other_than_get_and_head_get_405(sec_node: Node, method: str) -> None:
    assert sec_node.edge is not None
    for path in ("/", "/healthz", "/ws", "/sessions/abcdefgh12/report", "/nope"):
        reply = await get(sec_node.edge.port, path, method=method)
        assert reply.status == 405, (method, path)
        assert reply.headers["allow"] == "GET, HEAD"
        assert b"<html" not in reply.body.lower()


async def test_head_has_headers_and_no_body(sec_node: Node) -> None:
    assert sec_node.edge is not None
    port = sec_node.edge.port
    for path in ("/", "/app.js", "/healthz", "/nope"):
        full = await get(port, path)
        head = await get(port, path, method="HEAD")
        assert head.status == full.status
        assert head.body == b""
        assert head.headers["content-length"] == str(len(full.body))


async def test_page_and_scripts_cannot_be_framed(sec_node: Node) -> None:
    assert sec_node.edge is not None
    for path in (
        "/",
        "/index.html",
        "/app.js",
        "/mic-worklet.js",
        "/style.css",
        "/healthz",
        "/nope",
    ):
        reply = await get(sec_node.edge.port, path)
        csp = reply.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp, path
        assert "unsafe-eval" not in csp and "unsafe-inline" not in csp.split("style-src")[0]
        if path in ("/", "/index.html", "/app.js", "/mic-worklet.js", "/style.css"):
            # exactly the page's policy (a second one would be enforced as well)
            assert csp.count("default-src") == 1 and "default-src 'self'" in csp, csp
            assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        else:
            assert csp.startswith("default-src 'none'"), csp
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert reply.headers["server"] == "Parley", reply.headers["server"]


async def test_metrics_only_on_the_internal_port(sec_node: Node) -> None:
    edge = sec_node.edge
    assert edge is not None and edge.metrics_port
    assert (await get(edge.port, "/metrics")).status == 404
    inner = await get(edge.metrics_port, "/metrics")
    assert inner.status == 200 and b"http_requests_total" in inner.body
    assert (await get(edge.metrics_port, "/")).status == 404
    assert (await get(edge.metrics_port, "/metrics", method="POST")).status == 405


def _forms(sid: str) -> list[str]:
    """Non-canonical and broken spellings of a valid token for ``sid``."""
    good = auth.sign(SECRET, sid)
    _sid, exp, mac = good.split(".")
    return [
        "",
        ".",
        "..",
        good + ".",
        "." + good,
        good + "=",
        good + "\n",
        " " + good,
        f"{sid}.+{exp}.{mac}",
        f"{sid}.0{exp}.{mac}",
        f"{sid}. {exp}.{mac}",
        f"{sid}.{int(exp):_}.{mac}",
        f"{sid}.{exp.translate(ARABIC_DIGITS)}.{mac}",
        f"{sid}.{exp}.{mac}=",
        f"{sid}.{exp}.{mac[:-1]}",
        f"{sid}.{exp}.{mac}A",
        f"{sid}.{exp}.{mac.upper()}",
        f"{sid.upper()}.{exp}.{mac}",
        f"{sid}.{exp}",
        f"{sid}.{exp}.{mac}.{mac}",
        good.replace(".", "%2E"),
        auth.sign(SECRET, sid, ttl=-10),
        auth.sign(b"another-secret", sid),
        auth.sign(SECRET, "someoneElse12"),
    ]


async def test_token_forms_all_get_the_same_401(sec_node: Node) -> None:
    assert sec_node.edge is not None
    c = Client(ws_url(sec_node))
    await c.connect()
    sid = c.session_id
    await c.close()
    port = sec_node.edge.port
    bodies = set()
    for token in _forms(sid):
        for how in ("query", "header"):
            if how == "query":
                reply = await get(port, f"/sessions/{sid}/report?token={quote(token)}")
            else:
                if token.strip() != token:
                    continue  # HTTP trims header values: that is the valid token
                reply = await get(
                    port, f"/sessions/{sid}/report", extra=f"Authorization: Bearer {token}\n"
                )
            assert reply.status == 401, (token, how, reply.status)
            bodies.add(reply.body)
        if token.strip() == token:
            share = await get(
                port, f"/sessions/{sid}/share", extra=f"Authorization: Bearer {token}\n"
            )
            assert share.status == 401, token
            bodies.add(share.body)
    assert len(bodies) == 1, bodies  # nothing says which check failed
    # the same forms over the WebSocket: one bad_token, closed 4401
    for token in _forms(sid)[:8]:
        bad = Client(ws_url(sec_node))
        with pytest.raises(ConnectionError):
            await bad.connect(session_id=sid, token=token or "x")
        assert bad.closed is not None and bad.closed[0] == 4401
        assert bad.rx.of("error")[0]["message"] == "invalid or expired token"
        await bad.close()


async def test_report_token_reads_the_report_and_nothing_else(sec_node: Node) -> None:
    assert sec_node.edge is not None
    port = sec_node.edge.port
    c = Client(ws_url(sec_node))
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": 1})
    await c.wait_for("question", timeout=30 * TIME)
    await c.send({"type": "end"})
    await c.wait_for("report", timeout=60 * TIME)
    await c.close()
    sid, token = c.session_id, c.token

    share = await get(port, f"/sessions/{sid}/share", extra=f"Authorization: Bearer {token}\n")
    assert share.status == 200
    body = msgspec.json.decode(share.body)
    report_token = body["report_token"]
    assert report_token != token and body["path"].endswith(report_token)
    # the session token is not accepted in the query string for minting
    assert (await get(port, f"/sessions/{sid}/share?token={token}")).status == 401

    for t in (token, report_token):
        reply = await stored_report(port, sid, t)
        assert reply.status == 200, t
        assert msgspec.json.decode(reply.body)["role"]
    # a report token cannot resume, drive, or mint more tokens
    thief = Client(ws_url(sec_node))
    with pytest.raises(ConnectionError):
        await thief.connect(session_id=sid, token=report_token)
    assert thief.closed is not None and thief.closed[0] == 4401
    await thief.close()
    share2 = await get(
        port, f"/sessions/{sid}/share", extra=f"Authorization: Bearer {report_token}\n"
    )
    assert share2.status == 401
    # and it is bound to its session and expires like the other
    other = auth.sign(SECRET, "someoneElse12", kind=auth.REPORT)
    assert (await get(port, f"/sessions/{sid}/report?token={other}")).status == 401
    old = auth.sign(SECRET, sid, kind=auth.REPORT, now=time.time() - auth.DEFAULT_TTL - 5)
    assert (await get(port, f"/sessions/{sid}/report?token={old}")).status == 401
