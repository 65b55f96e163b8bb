"""A rolling restart of the session nodes mid-interview (real processes): each node in
turn gets SIGTERM, drains (snapshot, release) and exits in bounded time while its live
interviews move to the other node; a fresh node replaces it. No interview is dropped,
no event is lost or repeated, and no session is ever live on two nodes at once."""

from __future__ import annotations

import asyncio

import pytest

from parley.client import Client
from tests.chaos.harness import (
    ANSWER,
    Fleet,
    Proc,
    assert_clean_seqs,
    assert_complete,
    assert_one_activation_at_a_time,
    bus_client,
    finished_state,
    owner_of,
    ready_everywhere,
    timeline,
    wait_until,
)
from tests.conftest import TIME

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

CLIENTS = 3
QUESTIONS = 4
#: a drain stops each actor after at most 5 s of queued output and writes
DRAIN_BOUND_S = 20.0


async def test_rolling_restart_of_session_nodes_drops_no_interview(fleet: Fleet) -> None:
    # the LLM takes 1.2 s per job, so each drain lands while some session waits for one
    models = fleet.start(
        "models", "stt,llm,tts,embed", env={"PARLEY_DETERMINISTIC_DELAY_MS": "1200"}
    )
    edge = fleet.start("edge", "edge")
    first = fleet.start("sess-1", "session")
    for p in (models, edge, first):
        await p.ready()
    nc = await bus_client(fleet.nats_url)
    clients = [Client(fleet.edge_url(edge)) for _ in range(CLIENTS)]
    interviews: list[asyncio.Task[dict[str, object]]] = []
    try:
        await ready_everywhere(nc, ("session", "stt", "llm", "tts", "embed"))
        for c in clients:  # all on sess-1: the only session node yet
            await c.connect()
            await c.send(
                {"type": "start", "role": "backend", "language": "en", "questions": QUESTIONS}
            )
            interviews.append(asyncio.create_task(c.typed_interview(ANSWER, timeout=180 * TIME)))
        second = fleet.start("sess-2", "session")
        await second.ready()
        for c in clients:
            await c.wait_for("transcript", timeout=60 * TIME, where=lambda e: e["final"])

        async def owner(c: Client) -> str:
            try:
                return await owner_of(nc, c.session_id)
            except Exception:  # released, not yet taken again
                return ""

        async def all_owned() -> bool:
            for c in clients:
                if not c.rx.of("report") and not await owner(c):
                    return False
            return True

        moved: set[str] = set()
        order: list[tuple[Proc, str]] = [(first, "sess-3"), (second, "sess-4")]
        for victim, replacement in order:
            # every live interview is active somewhere (after the previous drain, too)
            await wait_until(all_owned, 20, "every live interview re-activated", step=0.1)
            owned = [c for c in clients if not c.rx.of("report") and await owner(c) == victim.name]
            code, took = await victim.terminate(DRAIN_BOUND_S)
            print(
                f"{victim.name}: SIGTERM -> exit {code} after {took:.1f} s, "
                f"{len(owned)} live interview(s) handed over"
            )
            assert code == 0, victim.output()[-3000:]
            moved.update(c.session_id for c in owned)
            fresh = fleet.start(replacement, "session")
            await fresh.ready()
        assert moved, "no drain landed mid-interview"

        reports = await asyncio.wait_for(asyncio.gather(*interviews), 180 * TIME)
        for c, report in zip(clients, reports, strict=True):
            assert_complete(report, QUESTIONS)
            assert_clean_seqs(c)
        acts = assert_one_activation_at_a_time(fleet, at_least=CLIENTS + len(moved))
        for c in clients:  # a drain loses no job: nothing waited for a deadline
            counters = (await finished_state(fleet.dsn, c.session_id)).counters
            assert counters.deadlines_expired == 0, (c.session_id, counters)
            assert counters.bank_fallbacks == 0, (c.session_id, counters)
        for sid in moved:  # each moved interview went on on another node
            nodes = [a.node for a in sorted(acts, key=lambda a: a.start) if a.sid == sid]
            assert len(set(nodes)) >= 2, (sid, nodes)
        assert all(
            p.alive() for p in fleet.procs if p.name in ("models", "edge", "sess-3", "sess-4")
        )
    finally:
        for c in clients:
            print(timeline(c))
        for t in interviews:
            t.cancel()
        await asyncio.gather(*interviews, return_exceptions=True)
        for c in clients:
            await c.close()
        await nc.drain()
