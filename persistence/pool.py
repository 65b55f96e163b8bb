"""The asyncpg pool: one per process, created after start-up, never shared across forks.

Every connection registers the pgvector codec and a statement timeout, so no query can
hang a caller.
"""

from __future__ import annotations

__all__ = ["create_pool"]

import asyncpg
from pgvector.asyncpg import register_vector


async def _init(conn: asyncpg.Connection) -> None:
    await register_vector(conn)


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 8,
    statement_timeout_ms: int = 10_000,
    connect_timeout: float = 5.0,
) -> asyncpg.Pool:
    """Create the process's pool. The schema (and the ``vector`` extension) must exist:
    run :func:`persistence.migrate.migrate` first."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout,
        command_timeout=statement_timeout_ms / 1000 + 1,
        server_settings={
            "statement_timeout": str(statement_timeout_ms),
            "idle_in_transaction_session_timeout": "15000",
            "application_name": "parley",
        },
        init=_init,
    )
    assert pool is not None
    return pool
