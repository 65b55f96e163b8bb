"""A node with the edge's admission limits set low enough to hit in a test, and raw HTTP
helpers (the attacks speak HTTP directly: any method, any header, any token)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio

from parley.config import Config
from parley.node import Node
from tests.conftest import TEST_SECRET, TIME, Servers

#: the limits of :func:`sec_node`
PER_IP_CONNECTIONS = 4
SESSIONS_PER_MIN = 3
START_TIMEOUT_S = 3.0 * TIME


def sec_config(servers: Servers, tmp_path: Path, **over: object) -> Config:
    fields: dict[str, object] = dict(
        nats_url=servers.nats_url,
        database_url=servers.dsn,
        port=0,
        roles=("edge", "session", "stt", "llm", "tts", "embed"),
        models="deterministic",
        node_id="sec-node",
        secret=TEST_SECRET,
        owner_ttl=2.0,
        data_dir=tmp_path,
        max_connections_per_ip=PER_IP_CONNECTIONS,
        sessions_per_ip_per_min=SESSIONS_PER_MIN,
        start_timeout_s=START_TIMEOUT_S,
        metrics_port=0,
        allowed_origins=(),
    )
    fields.update(over)
    return Config(**fields)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def sec_node(servers: Servers, tmp_path: Path) -> AsyncIterator[Node]:
    node = Node(sec_config(servers, tmp_path))
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_http(port: int, request: str, *, host: str = "127.0.0.1") -> HttpReply:
    """Send ``request`` (CRLFs added) to ``port`` and read the whole response (the edge
    closes the connection after an HTTP response)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    try:
        writer.write(request.replace("\n", "\r\n").encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        key = k.strip().lower()
        # a repeated header is kept as a list, the way a browser applies both (CSP)
        headers[key] = f"{headers[key]}, {v.strip()}" if key in headers else v.strip()
    return HttpReply(int(lines[0].split()[1]), headers, body)


async def get(port: int, path: str, *, method: str = "GET", extra: str = "") -> HttpReply:
    return await raw_http(
        port, f"{method} {path} HTTP/1.1\nHost: 127.0.0.1:{port}\n{extra}Connection: close\n\n"
    )


async def stored_report(port: int, sid: str, token: str, timeout: float = 20.0) -> HttpReply:
    """``GET`` the stored report, waiting (bounded) for the actor to have written it."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout * TIME
    while True:
        reply = await get(port, f"/sessions/{sid}/report?token={token}")
        if reply.status != 404 or loop.time() > end:
            return reply
        await asyncio.sleep(0.1)
