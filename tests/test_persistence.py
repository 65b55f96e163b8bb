"""Persistence against a real Postgres 18 with pgvector."""

from __future__ import annotations

import asyncpg
import numpy as np
import pytest

from persistence import chunks, reports, snapshots, transcripts
from persistence.migrate import migrate
from tests.conftest import Servers


async def test_migrations_rerun_without_change(servers: Servers, pool: asyncpg.Pool) -> None:
    assert await migrate(servers.dsn) == []
    versions = await pool.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert versions[0]["version"] == 1
    assert await pool.fetchval("SELECT extversion FROM pg_extension WHERE extname='vector'")


async def test_snapshot_fencing_rejects_stale_owner(pool: asyncpg.Pool) -> None:
    sid = "sess-fence-1"
    await snapshots.save_snapshot(pool, sid, b"v1", fence=5, seq=1, owner="a")
    await snapshots.save_snapshot(pool, sid, b"v2", fence=9, seq=2, owner="b")  # new owner
    with pytest.raises(snapshots.StaleFence):
        await snapshots.save_snapshot(pool, sid, b"stale", fence=5, seq=3, owner="a")
    row = await snapshots.load_snapshot(pool, sid)
    assert row is not None and row.snapshot == b"v2" and row.fence == 9
    await snapshots.save_snapshot(pool, sid, b"v3", fence=9, seq=4, owner="b")  # same owner
    row = await snapshots.load_snapshot(pool, sid)
    assert row is not None and row.snapshot == b"v3"
    assert await snapshots.load_snapshot(pool, "sess-missing") is None


async def test_turns_and_report_round_trip(pool: asyncpg.Pool) -> None:
    sid = "sess-report-1"
    await snapshots.save_snapshot(pool, sid, b"s", fence=1, seq=1, owner="a")
    await transcripts.save_turn(
        pool,
        sid,
        1,
        question="Q?",
        answer="A <b>x</b>'; DROP TABLE x;--",
        source="speech",
        assessment=None,
        latency={"stt_final": 120},
    )
    await transcripts.save_turn(
        pool,
        sid,
        1,
        question="Q?",
        answer="A2",
        source="text",
        assessment={"relevance": 4},
        latency={},
    )
    turns = await transcripts.load_turns(pool, sid)
    assert len(turns) == 1 and turns[0].answer == "A2" and turns[0].assessment == {"relevance": 4}
    await reports.save_report(pool, sid, {"overall": {"overall": 3.5}, "answers": []})
    assert (await reports.load_report(pool, sid)) == {"overall": {"overall": 3.5}, "answers": []}
    row = await snapshots.load_snapshot(pool, sid)
    assert row is not None and row.status == "finished"
    assert await reports.load_report(pool, "sess-none") is None


async def test_pgvector_top_k_is_exact_on_small_set(pool: asyncpg.Pool) -> None:
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(200, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    texts = [f"bank chunk {i}" for i in range(200)]
    added = await chunks.add_chunks(
        pool,
        session_id=None,
        kind="bench-small",
        language="en",
        embedder="test",
        contents=texts,
        embeddings=vecs,
    )
    assert added == 200
    again = await chunks.add_chunks(
        pool,
        session_id=None,
        kind="bench-small",
        language="en",
        embedder="test",
        contents=texts,
        embeddings=vecs,
    )
    assert again == 0
    q = vecs[17] + 0.05 * rng.normal(size=384).astype(np.float32)
    q /= np.linalg.norm(q)
    hits = await chunks.search(
        pool, q, k=5, language="en", embedder="test", kinds=("bench-small",), ef_search=200
    )
    exact = np.argsort(-(vecs @ q))[:5]
    assert [h.content for h in hits] == [texts[i] for i in exact]
    assert hits[0].content == "bank chunk 17"


async def test_session_chunks_come_first_and_stay_private(pool: asyncpg.Pool) -> None:
    v = np.zeros((1, 384), np.float32)
    v[0, 0] = 1.0
    await chunks.add_chunks(
        pool,
        session_id="sess-priv-a",
        kind="resume",
        language="en",
        embedder="test2",
        contents=["A's resume"],
        embeddings=v,
    )
    await chunks.add_chunks(
        pool,
        session_id="sess-priv-b",
        kind="resume",
        language="en",
        embedder="test2",
        contents=["B's resume"],
        embeddings=v,
    )
    hits = await chunks.search(
        pool, v[0], k=3, language="en", embedder="test2", session_id="sess-priv-a", kinds=("bank",)
    )
    assert [h.content for h in hits] == ["A's resume"]
