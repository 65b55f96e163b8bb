"""Session actors over real NATS and Postgres: crash of the owning node mid-interview,
re-activation on another node from its snapshot, fencing of the stale owner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from nats.aio.client import Client as Nats

from actors.models.engines.deterministic import DeterministicVoiceDetector
from actors.session.node import SessionNode
from bus.connection import connect
from bus.provision import provision_as
from bus.worker import JobWorker
from edge.server import Edge
from parley.client import Client
from persistence import snapshots
from persistence.pool import create_pool
from tests.conftest import Servers
from tests.fakes import fake_workers

pytestmark = pytest.mark.timeout(120)
TTL = 2.0


@dataclass
class SessionHost:
    nc: Nats
    node: SessionNode

    async def crash(self) -> None:
        """Like kill -9: the connection drops, nothing is written, the lease just expires."""
        for actor in list(self.node.actors.values()):
            actor._stopping = True
            for t in [*actor._loops, *actor._tasks]:
                t.cancel()
            await asyncio.gather(*actor._loops, *actor._tasks, return_exceptions=True)
        self.node.actors.clear()
        await self.nc.close()
        # a dead process takes its node-wide tasks with it
        await self.node.tails.close()
        await self.node.leases.stop()
        if self.node._janitor_task is not None:
            self.node._janitor_task.cancel()
            await asyncio.gather(self.node._janitor_task, return_exceptions=True)


@pytest_asyncio.fixture
async def cluster(servers: Servers) -> AsyncIterator[tuple[Edge, list[SessionHost], Nats]]:
    # provisioned as admin; then every process connects as the NATS user of its roles
    await provision_as(servers.nats_url, "test-provision", owner_ttl=TTL)
    nc = await connect(servers.nats_url_for("edge"), "edge")
    mnc = await connect(servers.nats_url_for("stt", "llm", "tts", "embed"), "models")
    pool = await create_pool(servers.dsn, max_size=6)
    workers: list[JobWorker] = fake_workers(mnc.jetstream())
    for w in workers:
        await w.start()
    edge = Edge(nc, pool, b"secret", port=0)
    await edge.start()
    hosts: list[SessionHost] = []
    for name in ("node-a", "node-b"):
        snc = await connect(servers.nats_url_for("session"), name)
        kv = await snc.jetstream().key_value("session_owners")
        node = SessionNode(
            snc, pool, kv, node_id=name, new_vad=DeterministicVoiceDetector, owner_ttl=TTL
        )
        hosts.append(SessionHost(snc, node))
    try:
        yield edge, hosts, nc
    finally:
        await edge.stop()
        for h in hosts:
            if h.nc.is_connected:
                await h.node.drain()
                await h.nc.drain()
            else:
                h.node._executor.shutdown(wait=False)
        for w in workers:
            await w.stop()
        await pool.close()
        await nc.drain()
        await mnc.drain()


async def test_crash_of_owner_reactivates_elsewhere_without_losing_turns(
    cluster: tuple[Edge, list[SessionHost], Nats],
) -> None:
    edge, (a, b), _ = cluster
    await a.node.start()  # only node A takes the new session
    c = Client(f"ws://127.0.0.1:{edge.port}/ws")
    await c.connect()
    assert c.session_id in a.node.actors
    await b.node.start()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": 3})
    # answer the first question on node A
    await c.wait_for("question", timeout=30, where=lambda e: e["kind"] == "main")
    first_turn = c.asked_turns()[0]
    await c.send({"type": "answer_text", "text": "I rebuilt our billing pipeline in Go."})
    await c.wait_for(
        "question", count=2, timeout=30, where=lambda e: e["kind"] in ("main", "followup")
    )
    await asyncio.sleep(0.3)  # let the turn's snapshot land
    await a.crash()
    # the next answer reaches node B once A's lease expired (the edge re-activates)
    report = await c.typed_interview("We cut the batch time from hours to minutes.", timeout=60)
    assert c.session_id in b.node.actors or b.node.activations >= 1
    questions = [a["question"] for a in report["answers"]]
    assert len(questions) >= 3, report
    assert report["answers"][0]["answer"].startswith("I rebuilt our billing pipeline")
    seqs = [e["seq"] for e in c.rx.events if e.get("seq")]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "no gap, no duplicate"
    assert first_turn in c.asked_turns()
    await c.close()


async def test_stale_owner_cannot_overwrite_snapshot(
    cluster: tuple[Edge, list[SessionHost], Nats],
) -> None:
    edge, (a, b), _ = cluster
    await a.node.start()
    c = Client(f"ws://127.0.0.1:{edge.port}/ws")
    await c.connect()
    actor_a = a.node.actors[c.session_id]
    # partition: A stops renewing but keeps running; its lease expires and B takes over
    actor_a.lease.drop()
    await asyncio.sleep(TTL * 1.6)
    await b.node.activate(c.session_id, create=False)
    with pytest.raises(snapshots.StaleFence):
        await actor_a._save_snapshot()
    row = await snapshots.load_snapshot(b.node.pool, c.session_id)
    assert row is not None and row.fence == b.node.actors[c.session_id].lease.revision
    await c.close()
