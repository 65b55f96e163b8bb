"""How long sessions stay in Postgres, and the bounded sweep that enforces it.

Three kinds of rows (``turns``, ``reports`` go with their session by ``ON DELETE CASCADE``;
the session's RAG ``chunks`` are deleted with it):

- **unstarted**: a session that never got ``start`` (its ``role`` is empty). The session
  node removes it when it evicts the idle actor (:func:`delete_unstarted`, ~30 s); the
  sweep removes any left behind (a node died first) after ``unstarted_s``.
- **abandoned**: started, never finished, not written for ``abandoned_s``. A candidate can
  resume an interview until then.
- **finished**: a report exists; readable until ``finished_s`` after the last write.
- **revocations** (:mod:`persistence.revocations`) of deleted sessions, once every token
  they could have had has expired (``revoked_s``).

:func:`sweep` deletes at most ``batch`` rows per call (``FOR UPDATE SKIP LOCKED``, so
nodes sweeping at once do not wait on each other); call it periodically.
"""

from __future__ import annotations

__all__ = [
    "DELETED_FENCE",
    "Retention",
    "delete_session",
    "delete_unstarted",
    "session_turns",
    "sweep",
]

from dataclasses import dataclass

import asyncpg

from persistence.revocations import REVOKE_SQL

DAY = 86_400.0


@dataclass(frozen=True)
class Retention:
    #: an activated session still not started after this is evicted and its row removed
    start_timeout_s: float = 30.0
    #: never-started rows left behind (their node died) are removed after this
    unstarted_s: float = 600.0
    abandoned_s: float = 7 * DAY
    finished_s: float = 30 * DAY
    #: at least the longest token lifetime (a report token's)
    revoked_s: float = 31 * DAY
    sweep_every_s: float = 60.0
    batch: int = 500


async def delete_unstarted(pool: asyncpg.Pool, session_id: str, *, fence: int) -> bool:
    """Delete a session that never started, if no newer owner has written it since
    (``fence``) and it is still unstarted. True when a row was deleted."""
    async with pool.acquire() as conn, conn.transaction():
        deleted = await conn.fetchval(
            "DELETE FROM sessions WHERE id = $1 AND fence <= $2 AND role = '' "
            "AND status <> 'finished' RETURNING id",
            session_id,
            fence,
        )
        if deleted is not None:
            await conn.execute("DELETE FROM chunks WHERE session_id = $1", session_id)
    return deleted is not None


async def session_turns(pool: asyncpg.Pool, session_id: str) -> list[int]:
    """The turn numbers stored for a session (to find its answer audio)."""
    rows = await pool.fetch("SELECT turn FROM turns WHERE session_id = $1", session_id)
    return [int(r["turn"]) for r in rows]


#: The fence of a deleted session: higher than any lease revision, so every later
#: snapshot of a still-running actor is stale (the actor stops) and nothing revives it.
DELETED_FENCE = 2**63 - 1


async def delete_session(pool: asyncpg.Pool, session_id: str) -> bool:
    """Delete a session at its owner's request: its turns, report and RAG chunks, and its
    snapshot. The row stays as an empty tombstone (``status = 'deleted'``, no snapshot,
    the highest fence) so that an actor still running cannot write the session back:
    its next snapshot is stale, and turns and reports of a deleted session are not
    stored. The sweep removes the tombstone like an unstarted session. The session's
    tokens are revoked in the same transaction (:mod:`persistence.revocations`). True
    when the session existed."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(REVOKE_SQL, session_id)
        await conn.execute("DELETE FROM chunks WHERE session_id = $1", session_id)
        await conn.execute("DELETE FROM turns WHERE session_id = $1", session_id)
        await conn.execute("DELETE FROM reports WHERE session_id = $1", session_id)
        deleted = await conn.fetchval(
            "UPDATE sessions SET status = 'deleted', snapshot = NULL, snapshot_seq = 0, "
            "owner = NULL, role = '', fence = $2, updated_at = now() "
            "WHERE id = $1 RETURNING id",
            session_id,
            DELETED_FENCE,
        )
    return deleted is not None


async def sweep(pool: asyncpg.Pool, retention: Retention) -> int:
    """Delete up to ``retention.batch`` expired sessions (see module doc); return how many."""
    async with pool.acquire() as conn, conn.transaction():
        ids = await conn.fetch(
            """
            WITH doomed AS (
                SELECT id FROM sessions
                 WHERE (status = 'finished' AND updated_at < now() - make_interval(secs => $1))
                    OR (status <> 'finished' AND role = ''
                        AND updated_at < now() - make_interval(secs => $2))
                    OR (status <> 'finished' AND updated_at < now() - make_interval(secs => $3))
                 ORDER BY updated_at
                 LIMIT $4
                 FOR UPDATE SKIP LOCKED)
            DELETE FROM sessions s USING doomed WHERE s.id = doomed.id RETURNING s.id
            """,
            retention.finished_s,
            retention.unstarted_s,
            retention.abandoned_s,
            retention.batch,
        )
        gone = [r["id"] for r in ids]
        if gone:
            await conn.execute("DELETE FROM chunks WHERE session_id = ANY($1::text[])", gone)
        expired = await conn.fetchval(
            """
            WITH old AS (
                SELECT session_id FROM revoked_sessions
                 WHERE revoked_at < now() - make_interval(secs => $1)
                 ORDER BY revoked_at LIMIT $2 FOR UPDATE SKIP LOCKED),
            gone AS (
                DELETE FROM revoked_sessions r USING old
                 WHERE r.session_id = old.session_id RETURNING 1)
            SELECT count(*) FROM gone
            """,
            retention.revoked_s,
            retention.batch,
        )
    return len(gone) + int(expired or 0)
