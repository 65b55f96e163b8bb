"""Postgres killed (kill -9 of the postmaster) and restarted mid-interview: turn and
snapshot writes are retried, the interview finishes and its report is stored."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from parley.client import Client
from persistence import reports, transcripts
from persistence.embedded import EmbeddedPostgres
from persistence.migrate import migrate
from tests.chaos.harness import (
    ANSWER,
    Fleet,
    assert_clean_seqs,
    assert_complete,
    assert_one_activation_at_a_time,
    timeline,
)
from tests.conftest import TIME, Servers, _tmp_root

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(150)]

DOWN_S = 3.0


@pytest.fixture
def own_pg() -> Iterator[EmbeddedPostgres]:
    root = _tmp_root()
    pg = EmbeddedPostgres(root / "pg", durable=False)
    try:
        pg.start()
        asyncio.run(migrate(pg.dsn))
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_postgres_restart_mid_interview(
    own_pg: EmbeddedPostgres, servers: Servers, tmp_path: Path
) -> None:
    fleet = Fleet(
        tmp_path / "fleet", servers.nats_url, own_pg.dsn, nats_credentials=servers.nats_credentials
    )
    try:
        procs = [
            fleet.start("models", "stt,llm,tts,embed"),
            fleet.start("session", "session"),
            fleet.start("edge", "edge"),
        ]
        for p in procs:
            await p.ready()
        c = Client(fleet.edge_url(procs[2]))
        await c.connect()
        await c.send({"type": "start", "role": "backend", "language": "en", "questions": 2})
        interview = asyncio.create_task(c.typed_interview(ANSWER, timeout=100 * TIME))
        try:
            # down from the first answer (its turn and snapshot writes) for a few seconds
            await c.wait_for("question", timeout=60 * TIME, where=lambda e: e["kind"] == "main")
            await asyncio.to_thread(own_pg.kill)
            down = time.monotonic()
            await asyncio.sleep(DOWN_S)
            await asyncio.to_thread(own_pg.start)
            print(f"postgres down for {time.monotonic() - down:.2f} s")
            report = await interview
        finally:
            print(timeline(c))
            if not interview.done():
                interview.cancel()
        assert_complete(report, 2)
        assert_clean_seqs(c)
        assert_one_activation_at_a_time(fleet)
        await c.close()
        pool = await asyncpg.create_pool(own_pg.dsn, min_size=1, max_size=1)
        try:
            stored = None
            for _ in range(int(100 * TIME)):  # the report write may still be retrying
                stored = await reports.load_report(pool, c.session_id)
                if stored is not None:
                    break
                await asyncio.sleep(0.1)
            assert stored is not None and stored["answers"] == report["answers"]
            turns = await transcripts.load_turns(pool, c.session_id)
            assert [t.answer for t in turns] == [a["answer"] for a in report["answers"]]
            status = await pool.fetchval("SELECT status FROM sessions WHERE id = $1", c.session_id)
            assert status == "finished"
        finally:
            await pool.close()
        assert all(p.alive() for p in fleet.procs)
    finally:
        fleet.close()
        print(fleet.logs())
