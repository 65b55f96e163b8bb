"""The pgvector document store: chunks of résumés, job postings and the question bank.

One table, one HNSW index (cosine). Per-session documents are few, so they are scanned
exactly (filtered by the session index); the shared bank is searched through HNSW with
``hnsw.ef_search`` set per query and iterative scans on, so the language filter does not
starve the result (pgvector >= 0.8).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_EF_SEARCH",
    "Hit",
    "add_chunks",
    "content_hash",
    "count_shared",
    "search",
]

import hashlib
from dataclasses import dataclass

import asyncpg
import numpy as np
import numpy.typing as npt

DEFAULT_EF_SEARCH = 200  # recall@5 0.955 at 100k chunks, p95 9.8 ms (parley bench rag)


@dataclass(frozen=True)
class Hit:
    content: str
    kind: str
    distance: float


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


async def add_chunks(
    pool: asyncpg.Pool,
    *,
    session_id: str | None,
    kind: str,
    language: str,
    embedder: str,
    contents: list[str],
    embeddings: npt.NDArray[np.float32],
) -> int:
    """Store chunks (skipping ones already stored); return how many were new."""
    if len(contents) != len(embeddings):
        raise ValueError("contents and embeddings differ in length")
    rows = [
        (session_id, kind, language, c, content_hash(c), embedder, np.asarray(e, np.float32))
        for c, e in zip(contents, embeddings, strict=True)
    ]
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchval(
            "SELECT count(*) FROM chunks WHERE coalesce(session_id, '') = $1 AND kind = $2",
            session_id or "",
            kind,
        )
        await conn.executemany(
            """INSERT INTO chunks (session_id, kind, language, content, content_hash, embedder,
                                   embedding)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT DO NOTHING""",
            rows,
        )
        after = await conn.fetchval(
            "SELECT count(*) FROM chunks WHERE coalesce(session_id, '') = $1 AND kind = $2",
            session_id or "",
            kind,
        )
    return int(after - before)


async def count_shared(pool: asyncpg.Pool, *, kind: str, embedder: str) -> int:
    """How many shared (session-less) chunks of ``kind`` embedded by ``embedder`` are stored."""
    n = await pool.fetchval(
        "SELECT count(*) FROM chunks WHERE session_id IS NULL AND kind = $1 AND embedder = $2",
        kind,
        embedder,
    )
    return int(n)


async def search(
    pool: asyncpg.Pool,
    query: npt.NDArray[np.float32],
    *,
    k: int,
    language: str,
    embedder: str,
    session_id: str | None = None,
    kinds: tuple[str, ...] = ("bank",),
    ef_search: int = DEFAULT_EF_SEARCH,
) -> list[Hit]:
    """Top-``k`` chunks nearest ``query``: the session's own documents (exact) and the
    shared chunks of ``kinds`` in ``language`` (HNSW), merged by distance."""
    vec = np.asarray(query, np.float32)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        rows = await conn.fetch(
            """
            (SELECT content, kind, embedding <=> $1 AS d FROM chunks
              WHERE session_id = $2 AND embedder = $5
              ORDER BY d LIMIT $3)
            UNION ALL
            (SELECT content, kind, embedding <=> $1 AS d FROM chunks
              WHERE session_id IS NULL AND language = $4 AND embedder = $5
                AND kind = ANY($6::text[])
              ORDER BY embedding <=> $1 LIMIT $3)
            ORDER BY d LIMIT $3
            """,
            vec,
            session_id,
            k,
            language,
            embedder,
            list(kinds),
        )
    return [Hit(r["content"], r["kind"], float(r["d"])) for r in rows]
