"""Floods on one WebSocket against a real node (issue 23, point 1): every frame counts
against one budget (pings and pongs too, which websockets answers by itself), the
flooder is cut (1008) even when it never reads, nothing but audio reaches the bus, and an
address cut again and again is refused for a while. How fast, and what it costs another
interview, is ``parley bench flood``'s to measure."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from nats.aio.client import Client as Nats
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bus import subjects
from parley.client import Client, masked_frame, raw_open, read_frame
from parley.node import Node
from tests.conftest import TIME, ws_url

PING, PONG, TEXT, BINARY = 0x9, 0xA, 0x1, 0x2


async def _flood_until_cut(writer: asyncio.StreamWriter, frame: bytes, seconds: float) -> bool:
    """Write ``frame`` over and over without ever reading; True once the edge cut the
    connection (a write fails), False if it still took them after ``seconds``."""
    batch = frame * max(1, 32768 // len(frame))
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds * TIME
    try:
        while loop.time() < end:
            writer.write(batch)
            await asyncio.wait_for(writer.drain(), max(0.1, end - loop.time()))
    except (OSError, ConnectionError):
        return True
    except TimeoutError:
        return False
    finally:
        writer.transport.abort()
    return False


@pytest.mark.parametrize(
    ("opcode", "payload"),
    [(PING, b""), (PONG, b""), (BINARY, b""), (BINARY, b"\x01\x02\x03"), (TEXT, b"{junk")],
    ids=["ping", "pong", "empty", "odd", "junk"],
)
async def test_a_flooder_that_never_reads_is_cut(
    sec_node: Node, opcode: int, payload: bytes
) -> None:
    assert sec_node.edge is not None
    counters = sec_node.edge.metrics.counters
    before = counters["ws_frame_budget_exceeded_total"]
    _r, writer, ready = await raw_open(sec_node.edge.port, {"type": "hello"}, source="127.0.0.6")
    assert ready["type"] == "ready"
    assert await _flood_until_cut(writer, masked_frame(opcode, payload), 30)
    assert counters["ws_frame_budget_exceeded_total"] == before + 1
    # the edge still serves everyone else
    c = Client(ws_url(sec_node))
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": 1})
    await c.wait_for("question", timeout=30 * TIME)
    await c.close()


async def test_only_frames_that_carry_audio_reach_the_bus(sec_node: Node, nc: Nats) -> None:
    """Empty and odd-length binary frames are refused at the edge; even, non-empty audio
    is published to the session's ``.in``."""
    assert sec_node.edge is not None
    reader, writer, ready = await raw_open(
        sec_node.edge.port, {"type": "hello"}, source="127.0.0.7"
    )
    got: list[int] = []

    async def on_in(msg: Any) -> None:
        if msg.headers and msg.headers.get(subjects.HDR_AUDIO):
            got.append(len(msg.data))

    sub = await nc.subscribe(subjects.session_in(ready["session_id"]), cb=on_in)
    try:
        for i in range(30):  # within the budgets: refused one by one, never closed
            writer.write(masked_frame(BINARY, b""))
            writer.write(masked_frame(BINARY, b"\x01" * (2 * i + 1)))
            if i % 10 == 0:
                writer.write(masked_frame(BINARY, b"\x00\x01" * 160))
            await writer.drain()
            await asyncio.sleep(0.02)
        errors: list[dict[str, Any]] = []
        while len(errors) < 20:
            opcode, data = await asyncio.wait_for(read_frame(reader), 10 * TIME)
            assert opcode != 0x8, "closed"
            if opcode == TEXT and json.loads(data).get("type") == "error":
                errors.append(json.loads(data))
        await nc.flush()
        await asyncio.sleep(0.2)
        assert got == [320, 320, 320]
        assert {e["code"] for e in errors} == {"bad_message"}
    finally:
        await sub.unsubscribe()
        writer.transport.abort()


async def test_an_address_cut_again_and_again_is_refused(sec_node: Node) -> None:
    assert sec_node.edge is not None
    port = sec_node.edge.port
    strikes = sec_node.edge.limits.abuse_strikes_per_min
    for _ in range(strikes):
        _r, writer, _ready = await raw_open(port, {"type": "hello"}, source="127.0.0.8")
        assert await _flood_until_cut(writer, masked_frame(PING, b""), 30)
    for _ in range(50):  # the handler records the cut once the connection has ended
        if sec_node.edge.gateway.per_ip.blocked_for("127.0.0.8"):
            break
        await asyncio.sleep(0.05)
    with pytest.raises(InvalidStatus) as refused:
        await asyncio.wait_for(connect(ws_url(sec_node), local_addr=("127.0.0.8", 0)), 10)
    assert refused.value.response.status_code == 429
    assert int(refused.value.response.headers["Retry-After"]) > 0
    # another address is not
    ws = await asyncio.wait_for(connect(ws_url(sec_node), local_addr=("127.0.0.9", 0)), 10)
    await ws.close()
