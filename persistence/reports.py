"""Final interview reports, stored as JSON and readable after any restart."""

from __future__ import annotations

__all__ = ["load_report", "save_report"]

from typing import Any

import asyncpg
import msgspec

_json = msgspec.json.Encoder()


async def save_report(pool: asyncpg.Pool, session_id: str, report: dict[str, Any]) -> None:
    """Store (or replace) the session's report and mark the session finished (not for a
    session its owner deleted)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO reports (session_id, report)
               SELECT $1, $2::jsonb
                WHERE NOT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND status = 'deleted')
               ON CONFLICT (session_id) DO UPDATE SET report = EXCLUDED.report,
                                                      created_at = now()""",
            session_id,
            _json.encode(report).decode(),
        )
        await conn.execute(
            "UPDATE sessions SET status = 'finished', updated_at = now() "
            "WHERE id = $1 AND status <> 'deleted'",
            session_id,
        )


async def load_report(pool: asyncpg.Pool, session_id: str) -> dict[str, Any] | None:
    raw = await pool.fetchval("SELECT report FROM reports WHERE session_id = $1", session_id)
    if raw is None:
        return None
    report: dict[str, Any] = msgspec.json.decode(raw)
    return report
