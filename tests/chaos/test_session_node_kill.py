"""kill -9 of the session node that owns a live interview (two session nodes, one edge
node, one model node, all real processes): the interview continues on the other node."""

from __future__ import annotations

import asyncio
import time

import pytest

from actors.session.node import last_out_seq
from parley.client import Client
from tests.chaos.harness import (
    ANSWER,
    TTL,
    Fleet,
    assert_clean_seqs,
    assert_complete,
    assert_one_activation_at_a_time,
    bus_client,
    owner_of,
    ready_everywhere,
    timeline,
)
from tests.conftest import TIME

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(150)]


async def test_kill_owner_mid_turn_interview_finishes_elsewhere(fleet: Fleet) -> None:
    # the LLM takes 1.5 s per job, so the kill lands while the owner waits for it
    models = fleet.start(
        "models", "stt,llm,tts,embed", env={"PARLEY_DETERMINISTIC_DELAY_MS": "1500"}
    )
    nodes = {name: fleet.start(name, "session") for name in ("sess-a", "sess-b")}
    edge = fleet.start("edge", "edge")
    for p in (models, *nodes.values(), edge):
        await p.ready()
    nc = await bus_client(fleet.nats_url)
    try:
        await ready_everywhere(nc, ("session", "stt", "llm", "tts", "embed"))
        c = Client(fleet.edge_url(edge))
        await c.connect()
        owner = await owner_of(nc, c.session_id)
        victim, survivor = nodes[owner], next(p for n, p in nodes.items() if n != owner)
        await c.send({"type": "start", "role": "backend", "language": "en", "questions": 2})
        interview = asyncio.create_task(c.typed_interview(ANSWER, timeout=90 * TIME))
        # kill the owner the moment the first answer was taken
        await c.wait_for("transcript", timeout=60 * TIME, where=lambda e: e["final"])
        victim.kill()
        killed_at = time.monotonic()
        # the first event the new owner publishes comes after the last one the dead one did
        await asyncio.sleep(0.05)
        last_of_victim = await last_out_seq(nc.jetstream(), c.session_id)
        try:
            report = await interview
        finally:
            print(timeline(c))
        first_after = next(e for e in c.rx.events if e.get("seq", 0) > last_of_victim)
        gap = first_after["_t"] - killed_at
        print(
            f"kill -9 of the owner -> next event at the client after {gap:.2f} s "
            f"(lease TTL {TTL:.0f} s)"
        )
        assert gap <= TTL + 2.5 * TIME, gap
        assert_complete(report, 2)
        assert_clean_seqs(c)
        assert_one_activation_at_a_time(fleet, at_least=2)
        assert await owner_of(nc, c.session_id) == next(n for n in nodes if n != owner)
        assert survivor.alive()
        await c.close()
    finally:
        await nc.drain()
