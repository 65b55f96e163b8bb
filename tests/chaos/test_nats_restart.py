"""Restart of the (single) nats-server mid-interview, same port and store dir: every node
and the edge reconnect, the interview finishes, the client sees no gap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.embedded import EmbeddedNats
from parley.client import Client
from parley.config import REPO
from tests.chaos.harness import (
    ANSWER,
    Fleet,
    assert_clean_seqs,
    assert_complete,
    assert_one_activation_at_a_time,
    bus_client,
    ready_everywhere,
    timeline,
)
from tests.conftest import TIME, Servers

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(150)]


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    n = EmbeddedNats(tmp_path / "nats" / "js", config=REPO / "nats.conf")
    n.start()
    try:
        yield n
    finally:
        n.stop()


@pytest.mark.parametrize("how", ["kill", "stop"])
async def test_nats_restart_mid_interview(
    own_nats: EmbeddedNats, servers: Servers, tmp_path: Path, how: str
) -> None:
    assert own_nats.credentials is not None
    fleet = Fleet(
        tmp_path / "fleet",
        own_nats.url,
        servers.dsn,
        nats_credentials=str(own_nats.credentials.path),
    )
    try:
        models = fleet.start("models", "stt,llm,tts,embed")
        session = fleet.start("session", "session")
        edge = fleet.start("edge", "edge")
        for p in (models, session, edge):
            await p.ready()
        nc = await bus_client(own_nats.url_for())
        try:
            await ready_everywhere(nc, ("session", "stt", "llm", "tts", "embed"))
        finally:
            await nc.close()
        c = Client(fleet.edge_url(edge))
        await c.connect()
        await c.send({"type": "start", "role": "backend", "language": "en", "questions": 2})
        interview = asyncio.create_task(c.typed_interview(ANSWER, timeout=100 * TIME))
        try:
            await c.wait_for("transcript", timeout=60 * TIME, where=lambda e: e["final"])
            down = time.monotonic()
            if how == "kill":
                own_nats.kill()  # kill -9: no goodbye to anyone
            else:
                own_nats.stop()
            await asyncio.sleep(0.5)
            await asyncio.to_thread(own_nats.start)
            print(f"nats-server ({how}) down for {time.monotonic() - down:.2f} s")
            report = await interview
        finally:
            print(timeline(c))
            if not interview.done():
                interview.cancel()
        assert_complete(report, 2)
        assert_clean_seqs(c)
        assert_one_activation_at_a_time(fleet)
        assert all(p.alive() for p in fleet.procs)
        await c.close()
    finally:
        fleet.close()
        print(fleet.logs())
