"""Numbered SQL migrations (``persistence/migrations/NNNN_name.sql``), applied once each.

Applied versions are recorded in ``schema_migrations``; an advisory lock serialises nodes
that start at the same time, so running :func:`migrate` on every start is safe.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS_DIR", "migrate"]

import logging
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_ID = 0x7061726C6579  # "parley"


def _migrations() -> list[tuple[int, str, str]]:
    out = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        out.append((version, path.name, path.read_text()))
    return out


async def migrate(dsn: str, *, timeout: float = 60.0) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date)."""
    conn = await asyncpg.connect(dsn, timeout=timeout)
    applied: list[str] = []
    try:
        await conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, name, sql in _migrations():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version,
                        name,
                    )
                log.info("applied migration %s", name)
                applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    finally:
        await conn.close()
    return applied
