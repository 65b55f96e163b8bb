"""Admission control at the edge (issue 15, point 3): Origin allowlist, per-address limits
on connections and new sessions, unstarted sessions leave (row removed), 503 with
Retry-After at capacity, sustained floods closed with 1008, error events limited."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from edge.admission import PerIp, address_key, host_allowed, origin_allowed
from parley.client import Client
from parley.node import Node
from persistence.retention import Retention, sweep
from tests.conftest import TIME, Servers, ws_url
from tests.security.conftest import (
    PER_IP_CONNECTIONS,
    SESSIONS_PER_MIN,
    START_TIMEOUT_S,
    get,
    sec_config,
)


async def _open(
    node: Node,
    *,
    source: str = "127.0.0.1",
    origin: str | None = None,
) -> ClientConnection:
    kwargs: dict[str, Any] = {"local_addr": (source, 0)}
    if origin is not None:
        kwargs["origin"] = origin
    return await asyncio.wait_for(connect(ws_url(node), **kwargs), 10)


async def _frames_until_close(
    ws: ClientConnection,
    timeout: float = 10.0,
) -> tuple[list[dict[str, Any]], int | None]:
    """Every text event until the server closes (bounded); and the close code."""
    got: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout * TIME):
            async for frame in ws:
                if isinstance(frame, str):
                    ev = json.loads(frame)
                    got.append(ev)
                    if ev.get("type") == "ping":
                        await ws.send(json.dumps({"type": "pong", "id": ev["id"]}))
    except ConnectionClosed:
        pass
    return got, ws.close_code


async def _hello(node: Node, source: str = "127.0.0.1") -> tuple[ClientConnection, dict[str, Any]]:
    """A new session: the first event the server answers ``hello`` with."""
    ws = await _open(node, source=source)
    await ws.send(json.dumps({"type": "hello"}))
    first = json.loads(await asyncio.wait_for(ws.recv(), 30 * TIME))
    return ws, first


# --- Origin -------------------------------------------------------------------------------


async def test_foreign_origin_is_refused(sec_node: Node) -> None:
    assert sec_node.edge is not None
    port = sec_node.edge.port
    for origin in (
        "http://evil.example",
        "null",
        f"http://127.0.0.1:{port + 1}",
        f"http://127.0.0.1.evil.example:{port}",
        "file://",
        f"ws://127.0.0.1:{port}",
    ):
        with pytest.raises(InvalidStatus) as refused:
            await _open(sec_node, origin=origin)
        assert refused.value.response.status_code == 403, origin
    assert sec_node.edge.metrics.counters["ws_refused_origin_total"] >= 6
    # the page's own origin, and a client that is no browser page, get in
    for own in (f"http://127.0.0.1:{port}", None):
        ws = await _open(sec_node, origin=own)
        await ws.close()


def test_origin_allowlist() -> None:
    host = "parley.example.com"
    allowed = ("https://app.example.com",)
    assert origin_allowed("https://parley.example.com", host, ())
    assert origin_allowed("http://parley.example.com", host, ())
    assert origin_allowed("https://parley.example.com:443", "parley.example.com:443", ())
    assert origin_allowed("https://app.example.com", host, allowed)
    assert origin_allowed("HTTPS://APP.EXAMPLE.COM", host, allowed)
    assert origin_allowed(None, host, ())
    for bad in (
        "null",
        "https://evil.example",
        "https://parley.example.com.evil.example",
        "https://parley.example.com/path",
        "",
        "https://",
        "javascript:alert(1)",
    ):
        assert not origin_allowed(bad, host, allowed), bad
    assert origin_allowed("https://anything.example", host, ("*",))


# --- per-address limits ----------------------------------------------------------------------


async def test_session_flood_from_one_address(sec_node: Node) -> None:
    """One address gets its few sessions a minute; the flood is refused (1008) and the
    node's sessions stay few; a client from another address still gets in."""
    assert sec_node.sessions is not None
    refused = 0
    for _ in range(SESSIONS_PER_MIN + 12):
        ws, first = await _hello(sec_node)
        if first["type"] == "ready":
            await ws.close()
            continue
        assert first["type"] == "error" and first["code"] == "rate_limited", first
        _events, code = await _frames_until_close(ws)
        assert code == 1008
        refused += 1
    assert refused == 12
    assert len(sec_node.sessions.actors) <= SESSIONS_PER_MIN
    ws, first = await _hello(sec_node, source="127.0.0.2")
    assert first["type"] == "ready"
    await ws.close()


async def test_connection_flood_from_one_address(sec_node: Node) -> None:
    held = [await _open(sec_node) for _ in range(PER_IP_CONNECTIONS)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            await _open(sec_node)
        assert refused.value.response.status_code == 429
        assert int(refused.value.response.headers["Retry-After"]) > 0
        other = await _open(sec_node, source="127.0.0.2")
        await other.close()
    finally:
        for ws in held:
            await ws.close()
    for _ in range(50):  # the handler counts a connection down once it has ended
        if not sec_node.edge or not sec_node.edge.gateway.per_ip.open:
            break
        await asyncio.sleep(0.05)
    again = await _open(sec_node)
    await again.close()


def test_per_address_window_expires() -> None:
    limits = PerIp(max_connections=2, sessions_per_min=3, max_addresses=4)
    t = 1000.0
    assert [limits.take_session("a", t + i) for i in range(3)] == [0.0] * 3
    assert limits.take_session("a", t + 10) == pytest.approx(50.0)
    assert limits.take_session("b", t + 10) == 0.0  # another address
    assert limits.take_session("a", t + 60.5) == 0.0  # after the window
    # the state is bounded: old addresses are forgotten first
    for i in range(10):
        limits.take_session(f"ip{i}", t + 200 + i)
    assert len(limits.recent) <= 4
    assert limits.opened("x") and limits.opened("x") and not limits.opened("x")
    limits.closed("x")
    limits.closed("x")
    assert "x" not in limits.open


# --- sessions that never start ---------------------------------------------------------------


async def test_unstarted_session_leaves_and_its_row_is_removed(sec_node: Node) -> None:
    assert sec_node.pool is not None and sec_node.sessions is not None
    ws, ready = await _hello(sec_node, source="127.0.0.3")
    sid = ready["session_id"]
    assert await sec_node.pool.fetchval("SELECT count(*) FROM sessions WHERE id = $1", sid)
    events, code = await _frames_until_close(ws, timeout=START_TIMEOUT_S + 10)
    assert code == 1008
    assert [e["code"] for e in events if e["type"] == "error"] == ["start_timeout"]
    # a client that left before its deadline: the session node evicts the actor anyway
    ws2, ready2 = await _hello(sec_node, source="127.0.0.3")
    await ws2.close()
    loop = asyncio.get_running_loop()
    end = loop.time() + START_TIMEOUT_S + 10 * TIME
    while loop.time() < end:
        rows = await sec_node.pool.fetchval(
            "SELECT count(*) FROM sessions WHERE id = ANY($1::text[])", [sid, ready2["session_id"]]
        )
        if rows == 0 and not sec_node.sessions.actors:
            break
        await asyncio.sleep(0.2)
    assert rows == 0
    assert not sec_node.sessions.actors
    assert sec_node.sessions.evicted >= 2


async def test_retention_sweep_removes_old_rows(pool: asyncpg.Pool) -> None:
    """No node runs here, so its own sweep cannot race this one."""
    await pool.execute(
        "INSERT INTO sessions (id, status, role, updated_at) VALUES "
        "('sweepFinished1', 'finished', 'backend', now() - interval '40 days'), "
        "('sweepAbandon01', 'active', 'backend', now() - interval '8 days'), "
        "('sweepUnstart01', 'active', '', now() - interval '20 minutes'), "
        "('sweepKeepFin01', 'finished', 'backend', now() - interval '2 days'), "
        "('sweepKeepAct01', 'active', 'backend', now() - interval '1 day')"
    )
    await pool.execute(
        "INSERT INTO reports (session_id, report) VALUES "
        "('sweepFinished1', '{}'), ('sweepKeepFin01', '{}')"
    )
    ret = Retention(batch=2)
    assert await sweep(pool, ret) == 2  # bounded
    assert await sweep(pool, ret) == 1
    left = {r["id"] for r in await pool.fetch("SELECT id FROM sessions WHERE id LIKE 'sweep%'")}
    assert left == {"sweepKeepFin01", "sweepKeepAct01"}
    assert (
        await pool.fetchval("SELECT count(*) FROM reports WHERE session_id = 'sweepFinished1'") == 0
    )
    await pool.execute("DELETE FROM sessions WHERE id LIKE 'sweep%'")


# --- capacity --------------------------------------------------------------------------------


async def test_edge_at_capacity_answers_503_with_retry_after(
    servers: Servers, tmp_path: Path
) -> None:
    node = Node(
        sec_config(
            servers,
            tmp_path,
            max_connections=2,
            max_sessions=1,
            max_connections_per_ip=0,
            sessions_per_ip_per_min=0,
        )
    )
    await node.start()
    try:
        assert node.edge is not None
        ws, first = await _hello(node)
        assert first["type"] == "ready"
        # the only session node is full: a new session is refused, and for a while the
        # upgrade itself says so
        ws2, busy = await _hello(node)
        assert busy["type"] == "error" and busy["code"] == "busy"
        _e, code = await _frames_until_close(ws2)
        assert code == 1013
        with pytest.raises(InvalidStatus) as refused:
            await _open(node)
        assert refused.value.response.status_code == 503
        assert int(refused.value.response.headers["Retry-After"]) >= 1
        plain = await get(node.edge.port, "/ws")  # what the page asks after a failed open
        assert plain.status == 503 and json.loads(plain.body)["error"] == "full"
        node.edge.gateway.full_until = 0.0
        # at max_connections the upgrade gets 503 too
        held = await _open(node)
        with pytest.raises(InvalidStatus) as refused:
            await _open(node)
        assert refused.value.response.status_code == 503
        await held.close()
        await ws.close()
    finally:
        await node.stop()


# --- floods on an open connection -------------------------------------------------------------


async def test_sustained_message_flood_is_closed_with_1008(sec_node: Node) -> None:
    ws, ready = await _hello(sec_node, source="127.0.0.4")
    assert ready["type"] == "ready"
    sent = 0
    with pytest.raises(ConnectionClosed):
        for i in range(5000):
            await ws.send(json.dumps({"type": "pong", "id": i}))
            sent += 1
            if i % 50 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(ws.recv(), 10)
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    _events, code = await _frames_until_close(ws)
    assert code == 1008
    assert sec_node.edge is not None
    counters = sec_node.edge.metrics.counters
    assert counters["ws_closed_for_abuse_total"] >= 1
    # error events were limited: far fewer than the refused messages (here the frame
    # budget closes it first; tests/security/test_link.py drives the error limit alone)
    assert counters['ws_errors_total{code="rate_limited"}'] <= 60
    assert (
        counters["ws_errors_suppressed_total"] > 0
        or counters["ws_frame_budget_exceeded_total"] == 1
    ), (sent, counters)


async def test_sustained_audio_flood_is_closed_with_1008(sec_node: Node) -> None:
    ws, ready = await _hello(sec_node, source="127.0.0.5")
    assert ready["type"] == "ready"
    frame = b"\x00\x00" * 16000
    with pytest.raises(ConnectionClosed):
        for _ in range(2000):  # 64 MB, at ~90x real time and more
            await ws.send(frame)
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code == 1008


# --- addresses and names (issue 23, points 4 and 5) -------------------------------------


def test_ipv6_clients_count_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:2:ffff:ffff:ffff:fffe") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"  # IPv4-mapped: the IPv4 address
    assert address_key("192.0.2.7") == "192.0.2.7"
    limits = PerIp(max_connections=2, sessions_per_min=2)
    # one subscriber rotating through its /64 is one address to the limits
    hosts = [address_key(f"2001:db8:1:2::{i:x}") for i in range(1, 4)]
    assert limits.opened(hosts[0]) and limits.opened(hosts[1]) and not limits.opened(hosts[2])
    assert limits.take_session(hosts[0], 0.0) == 0.0
    assert limits.take_session(hosts[1], 1.0) == 0.0
    assert limits.take_session(hosts[2], 2.0) > 0


def test_host_names() -> None:
    for ok in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "10.1.2.3", "LOCALHOST"):
        assert host_allowed(ok, ()), ok
    for bad in ("evil.example", "evil.example:8080", "127.0.0.1.nip.io", "a b", "", "[::1"):
        assert not host_allowed(bad, ()), bad
    assert host_allowed("Interview.Example.com.:443", ("interview.example.com",))
    assert not host_allowed("other.example.com", ("interview.example.com",))
    assert host_allowed("anything.example", ("*",))


async def test_a_started_session_that_goes_silent_is_closed_and_can_resume(
    servers: Servers, tmp_path: Path
) -> None:
    node = Node(sec_config(servers, tmp_path, idle_timeout_s=2.0 * TIME))
    await node.start()
    try:
        c = Client(ws_url(node))
        await c.connect()
        await c.send({"type": "start", "role": "backend", "language": "en", "questions": 2})
        await c.wait_for("question", timeout=30 * TIME)
        with pytest.raises(ConnectionError):  # pongs alone do not keep it open
            await c.wait_for("report", timeout=30 * TIME)
        assert c.closed is not None and c.closed[0] == 1008
        assert [e["code"] for e in c.rx.of("error")] == ["idle_timeout"]
        await c.close()
        again = Client(ws_url(node))
        ready = await again.connect(session_id=c.session_id, token=c.token, last_seq=c.last_seq)
        assert ready["resumed"]
        await again.send({"type": "end"})
        await again.wait_for("report", timeout=60 * TIME)
        await again.close()
    finally:
        await node.stop()
