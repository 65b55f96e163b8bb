"""Session snapshots, fenced by the owner's lease revision.

A session node that holds the KV lease for a session writes its snapshot with the lease
revision as ``fence``. The write is applied only when no snapshot with a higher fence
exists: a partitioned old owner (whose lease was taken over, with a higher revision) can
no longer overwrite the new owner's state.
"""

from __future__ import annotations

__all__ = ["SessionRow", "StaleFence", "load_snapshot", "save_snapshot"]

from dataclasses import dataclass

import asyncpg

from persistence.errors import StaleFence


@dataclass(frozen=True)
class SessionRow:
    id: str
    status: str
    language: str
    role: str
    fence: int
    snapshot: bytes | None
    snapshot_seq: int


async def save_snapshot(
    pool: asyncpg.Pool,
    session_id: str,
    snapshot: bytes,
    *,
    fence: int,
    seq: int,
    owner: str,
    status: str = "active",
    language: str = "en",
    role: str = "general",
) -> None:
    """Insert or update the session's snapshot in one short transaction.

    Raises :class:`StaleFence` when the stored fence is higher than ``fence``.
    """
    row = await pool.fetchrow(
        """
        INSERT INTO sessions AS s (id, status, language, role, owner, fence, snapshot,
                                   snapshot_seq, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
        ON CONFLICT (id) DO UPDATE
           SET status = EXCLUDED.status, language = EXCLUDED.language, role = EXCLUDED.role,
               owner = EXCLUDED.owner, fence = EXCLUDED.fence, snapshot = EXCLUDED.snapshot,
               snapshot_seq = EXCLUDED.snapshot_seq, updated_at = now()
         WHERE s.fence <= EXCLUDED.fence
        RETURNING fence
        """,
        session_id,
        status,
        language,
        role,
        owner,
        fence,
        snapshot,
        seq,
    )
    if row is None:
        raise StaleFence(f"snapshot of {session_id} with fence {fence} is stale")


async def load_snapshot(pool: asyncpg.Pool, session_id: str) -> SessionRow | None:
    row = await pool.fetchrow(
        "SELECT id, status, language, role, fence, snapshot, snapshot_seq "
        "FROM sessions WHERE id = $1",
        session_id,
    )
    if row is None:
        return None
    return SessionRow(
        id=row["id"],
        status=row["status"],
        language=row["language"],
        role=row["role"],
        fence=row["fence"],
        snapshot=row["snapshot"],
        snapshot_seq=row["snapshot_seq"],
    )
