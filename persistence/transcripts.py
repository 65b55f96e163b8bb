"""Turns of an interview: the question asked, the answer given, its assessment and the
turn's latency breakdown. Written after every turn; idempotent per (session, turn)."""

from __future__ import annotations

__all__ = ["TurnRow", "load_turns", "save_turn"]

from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

_json = msgspec.json.Encoder()


@dataclass(frozen=True)
class TurnRow:
    turn: int
    question: str
    answer: str
    source: str
    assessment: dict[str, Any] | None
    latency: dict[str, Any]


async def save_turn(
    pool: asyncpg.Pool,
    session_id: str,
    turn: int,
    *,
    question: str,
    answer: str,
    source: str,
    assessment: dict[str, Any] | None,
    latency: dict[str, Any],
) -> None:
    """Upsert one turn; the session row must exist (a snapshot is written first). A turn
    of a session its owner deleted is not stored."""
    await pool.execute(
        """
        INSERT INTO turns (session_id, turn, question, answer, source, assessment, latency)
        SELECT $1, $2, $3, $4, $5, $6::jsonb, $7::jsonb
         WHERE NOT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND status = 'deleted')
        ON CONFLICT (session_id, turn) DO UPDATE
           SET question = EXCLUDED.question, answer = EXCLUDED.answer,
               source = EXCLUDED.source,
               assessment = coalesce(EXCLUDED.assessment, turns.assessment),
               latency = EXCLUDED.latency
        """,
        session_id,
        turn,
        question,
        answer,
        source,
        None if assessment is None else _json.encode(assessment).decode(),
        _json.encode(latency).decode(),
    )


async def load_turns(pool: asyncpg.Pool, session_id: str) -> list[TurnRow]:
    rows = await pool.fetch(
        "SELECT turn, question, answer, source, assessment, latency FROM turns "
        "WHERE session_id = $1 ORDER BY turn",
        session_id,
    )
    return [
        TurnRow(
            turn=r["turn"],
            question=r["question"],
            answer=r["answer"],
            source=r["source"],
            assessment=None if r["assessment"] is None else msgspec.json.decode(r["assessment"]),
            latency=msgspec.json.decode(r["latency"]),
        )
        for r in rows
    ]
