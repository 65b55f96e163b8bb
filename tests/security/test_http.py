"""The HTTP surface and tokens (issue 15, point 5): methods, HEAD, CSP and framing,
``Server:``, the internal metrics port, strict token parsing with one uniform 401, and the
read-only report token."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from urllib.parse import quote

import msgspec
import pytest

from edge import auth
from parley.client import Client
from parley.node import Node
from tests.conftest import TEST_SECRET, TIME, Servers, ws_url
from tests.security.conftest import get, raw_http, sec_config, stored_report

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
        assert reply.headers["permissions-policy"].startswith("microphone=(self)")
        assert reply.headers["cross-origin-opener-policy"] == "same-origin"


async def test_readiness_and_metrics_only_on_the_internal_port(sec_node: Node) -> None:
    edge = sec_node.edge
    assert edge is not None and edge.metrics_port
    for path in ("/metrics", "/readyz"):
        assert (await get(edge.port, path)).status == 404, path
    health = await get(edge.port, "/healthz")  # bare: no node names, no PIDs
    assert health.status == 200 and msgspec.json.decode(health.body) == {"ok": True}
    inner = await get(edge.metrics_port, "/metrics")
    assert inner.status == 200 and b"http_requests_total" in inner.body
    ready = await get(edge.metrics_port, "/readyz")
    assert ready.status in (200, 503) and "checks" in msgspec.json.decode(ready.body)
    assert (await get(edge.metrics_port, "/healthz")).status == 200
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


async def _finished_interview(node: Node) -> tuple[str, str]:
    """(session id, session token) of an interview ended at once, its report out."""
    c = Client(ws_url(node))
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": 1})
    await c.wait_for("question", timeout=30 * TIME)
    await c.send({"type": "end"})
    await c.wait_for("report", timeout=60 * TIME)
    await c.close()
    return c.session_id, c.token


async def test_report_token_reads_the_report_and_nothing_else(sec_node: Node) -> None:
    assert sec_node.edge is not None
    port = sec_node.edge.port
    sid, token = await _finished_interview(sec_node)

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
    old = auth.sign(SECRET, sid, kind=auth.REPORT, now=time.time() - auth.TTL[auth.REPORT] - 5)
    assert (await get(port, f"/sessions/{sid}/report?token={old}")).status == 401


# --- headers (issue 23, point 4) ----------------------------------------------------


def _request(port: int, path: str, headers: list[str]) -> str:
    return f"GET {path} HTTP/1.1\n" + "".join(h + "\n" for h in headers) + "Connection: close\n\n"


_UPGRADE = [
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
]


async def test_bad_or_repeated_headers_get_400_and_one_log_line(
    sec_node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    assert sec_node.edge is not None
    port = sec_node.edge.port
    own = f"Host: 127.0.0.1:{port}"
    cases = [
        ("/ws", [own, "Origin: http://127.0.0.1", "Origin: http://evil.example", *_UPGRADE]),
        ("/ws", [own, own, *_UPGRADE]),
        ("/", [own, "Host: evil.example"]),
        ("/", []),  # no Host at all
        # DNS rebinding: a page on another name that resolves to this address
        ("/ws", ["Host: rebind.evil.example", "Origin: http://rebind.evil.example", *_UPGRADE]),
        ("/", ["Host: rebind.evil.example:8080"]),
        ("/healthz", ["Host: bad host"]),
    ]
    for path, headers in cases:
        caplog.clear()
        with caplog.at_level("INFO"):
            reply = await raw_http(port, _request(port, path, headers))
        assert reply.status == 400, (path, headers, reply.status)
        # one line that says why (websockets' own access line is INFO), no traceback
        lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(lines) == 1 and lines[0].exc_info is None, [r.getMessage() for r in lines]
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    # the page under its own names, and the CSP never echoes the Host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        reply = await raw_http(port, _request(port, "/", [f"Host: {host}"]))
        assert reply.status == 200, host
        assert host not in reply.headers["content-security-policy"]
        assert "connect-src 'self';" in reply.headers["content-security-policy"]


async def test_configured_names_are_served(servers: Servers, tmp_path: Path) -> None:
    node = Node(sec_config(servers, tmp_path, allowed_hosts=("interview.example.com",)))
    await node.start()
    try:
        assert node.edge is not None
        port = node.edge.port
        ok = await raw_http(port, _request(port, "/", ["Host: interview.example.com"]))
        assert ok.status == 200
        bad = await raw_http(port, _request(port, "/", ["Host: other.example.com"]))
        assert bad.status == 400
    finally:
        await node.stop()


# --- tokens: short, renewed, revoked with the interview (issue 23, point 3) -----------


async def test_session_tokens_are_short_and_renewed_on_resume(sec_node: Node) -> None:
    c = Client(ws_url(sec_node))
    await c.connect()
    _sid, exp, _mac = c.token.split(".")
    assert 11 * 3600 < int(exp) - time.time() <= 12 * 3600  # hours, not a month
    await c.close()
    await asyncio.sleep(1.1)  # expiries are whole seconds
    again = Client(ws_url(sec_node))
    ready = await again.connect(session_id=c.session_id, token=c.token, last_seq=c.last_seq)
    assert ready["resumed"] and ready["token"] != c.token  # a fresh one, expiring later
    assert int(ready["token"].split(".")[1]) > int(exp)
    auth.verify(SECRET, ready["token"], c.session_id)
    await again.close()


async def test_a_deleted_session_s_tokens_all_stop_working(sec_node: Node) -> None:
    assert sec_node.edge is not None
    port = sec_node.edge.port
    sid, token = await _finished_interview(sec_node)
    bearer = f"Authorization: Bearer {token}\n"
    share = msgspec.json.decode((await get(port, f"/sessions/{sid}/share", extra=bearer)).body)
    assert (await stored_report(port, sid, share["report_token"])).status == 200
    gone = await get(port, f"/sessions/{sid}", method="DELETE", extra=bearer)
    assert gone.status == 200 and msgspec.json.decode(gone.body)["deleted"] is True
    # every check honours the revocation: share, report, replay, delete, resume
    assert (await get(port, f"/sessions/{sid}/share", extra=bearer)).status == 401
    for t in (token, share["report_token"]):
        assert (await get(port, f"/sessions/{sid}/report?token={t}")).status == 401
    for t in (token, share["replay_token"]):
        assert (await get(port, f"/sessions/{sid}/answers/1?token={t}")).status == 401
    assert (await get(port, f"/sessions/{sid}", method="DELETE", extra=bearer)).status == 401
    thief = Client(ws_url(sec_node))
    with pytest.raises(ConnectionError):
        await thief.connect(session_id=sid, token=token)
    assert thief.closed is not None and thief.closed[0] == 4401
    await thief.close()
