"""The session shell runs the end-of-turn model (here its deterministic stand-in) at
pauses of a spoken answer and feeds the verdicts back into the core, over a real
nats-server and Postgres."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from actors.session.snapshot import decode_stored_state
from parley.client import Client
from parley.node import Node
from persistence import snapshots
from tests.conftest import ws_url

pytestmark = pytest.mark.timeout(120)


def _tone(seconds: float, dbfs: float) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    x = 10 ** (dbfs / 20) * np.sqrt(2) * np.sin(2 * np.pi * 220 * t)
    pcm: bytes = (x * 32767).astype("<i2").tobytes()
    return pcm


async def test_a_spoken_answer_is_judged_by_the_end_of_turn_model(det_node: Node) -> None:
    c = Client(ws_url(det_node))
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": 1})
    q = await c.wait_for("question", where=lambda e: e["kind"] == "main", timeout=60)
    await c.wait_for(
        "state", timeout=60, where=lambda e: e["state"] == "listening" and e["seq"] > q["seq"]
    )
    # a fading end: the stand-in calls it finished
    await c.speak(_tone(1.5, -20.0) + _tone(0.3, -30.0), silence_s=2.0)
    await c.wait_for("transcript", where=lambda e: e["final"], timeout=30)
    assert det_node.pool is not None
    counters = None
    for _ in range(100):
        row = await snapshots.load_snapshot(det_node.pool, c.session_id)
        if row is not None and row.snapshot:
            counters = decode_stored_state(row.snapshot).counters
            if counters.turn_verdicts:
                break
        await asyncio.sleep(0.1)
    assert counters is not None
    assert counters.turn_checks >= 1 and counters.turn_verdicts >= 1
    await c.close()
