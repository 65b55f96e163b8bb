"""Revoked sessions: their tokens (session, report, replay) are refused by every check.

A session is revoked when its owner deletes it (:func:`persistence.retention.delete_session`
writes the row in the same transaction). :func:`is_revoked` is one primary-key lookup;
the edge calls it on every token check. Rows are kept until every token of the session
has expired (:attr:`persistence.retention.Retention.revoked_s`) and then swept.
"""

from __future__ import annotations

__all__ = ["REVOKE_SQL", "is_revoked"]

import asyncio

import asyncpg

#: insert a revocation (``$1``: the session id); idempotent
REVOKE_SQL = (
    "INSERT INTO revoked_sessions (session_id) VALUES ($1) "
    "ON CONFLICT (session_id) DO UPDATE SET revoked_at = now()"
)


async def is_revoked(pool: asyncpg.Pool, session_id: str, *, timeout: float = 2.0) -> bool:
    """True when ``session_id``'s tokens were revoked. Raises (TimeoutError, asyncpg's
    errors) when Postgres does not answer in ``timeout``: the caller decides."""
    found = await asyncio.wait_for(
        pool.fetchval("SELECT 1 FROM revoked_sessions WHERE session_id = $1", session_id),
        timeout,
    )
    return found is not None
