"""``parley bench rag``: top-5 search latency and recall over the pgvector HNSW index.

Loads N synthetic 384-dim unit vectors (a mixture of clusters, like sentence embeddings,
not uniform noise) into the real ``chunks`` table, builds the HNSW index, then times
:func:`persistence.chunks.search` (the query the embed actor runs) at several
``hnsw.ef_search`` values and compares its top 5 with an exact scan.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import time

import numpy as np

from bench.servers import bench_servers, percentile
from persistence import chunks
from persistence.migrate import migrate
from persistence.pool import create_pool

DIM = 384


def _data(n: int, rng: np.random.Generator) -> np.ndarray:
    centers = rng.normal(size=(max(n // 100, 10), DIM)).astype(np.float32)
    idx = rng.integers(0, len(centers), size=n)
    x = centers[idx] + 0.6 * rng.normal(size=(n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


async def _one(dsn: str, n: int, queries: int, efs: list[int]) -> None:
    rng = np.random.default_rng(n)
    vecs = _data(n, rng)
    pool = await create_pool(dsn, max_size=2, statement_timeout_ms=900_000)
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM chunks WHERE kind = 'bench'")
        await conn.execute("DROP INDEX IF EXISTS chunks_embedding_hnsw")
        t = time.perf_counter()
        await conn.copy_records_to_table(
            "chunks",
            columns=[
                "session_id",
                "kind",
                "language",
                "content",
                "content_hash",
                "embedder",
                "embedding",
            ],
            records=[(None, "bench", "en", str(i), str(i), "bench", v) for i, v in enumerate(vecs)],
        )
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute(
            "CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw "
            "(embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        build_s = time.perf_counter() - t
        await conn.execute("ANALYZE chunks")
    print(f"{n:,} chunks x {DIM} dims: load {load_s:.1f}s, HNSW build {build_s:.1f}s")
    qs = vecs[rng.integers(0, n, size=queries)] + 0.1 * rng.normal(size=(queries, DIM)).astype(
        np.float32
    )
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    truth = [set(map(str, np.argsort(-(vecs @ q))[:5])) for q in qs]
    for ef in efs:
        lat, hits = [], 0
        for q, true in zip(qs, truth, strict=True):
            t = time.perf_counter()
            res = await chunks.search(
                pool, q, k=5, language="en", embedder="bench", kinds=("bench",), ef_search=ef
            )
            lat.append(time.perf_counter() - t)
            hits += len(true & {h.content for h in res})
        print(
            f"  ef_search={ef:<4} top-5 p50 {percentile(lat, 0.5) * 1000:.2f} ms, "
            f"p95 {percentile(lat, 0.95) * 1000:.2f} ms, recall@5 {hits / (5 * len(qs)):.3f}"
        )
    await pool.close()


async def _run(sizes: list[int], queries: int, efs: list[int]) -> None:
    with bench_servers(nats=False) as (_, dsn):
        await migrate(dsn)
        for n in sizes:
            await _one(dsn, n, queries, efs)


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="parley bench rag")
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--ef", default="40,100,200")
    a = p.parse_args(argv)
    asyncio.run(
        _run([int(s) for s in a.sizes.split(",")], a.queries, [int(e) for e in a.ef.split(",")])
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
