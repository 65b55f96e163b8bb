"""Odd text in every field (issue 15, point 4): cleaned once at the edge, stored, embedded
and shown; a write Postgres refuses as bad input is stored cleaned, never dropped."""

from __future__ import annotations

import asyncio
import json
import unicodedata

import asyncpg
import msgspec
import pytest

from actors.session import commands as cmd
from parley.client import Client
from parley.node import Node
from persistence import reports
from persistence.text import clean_text, scrub
from tests.conftest import TIME, ws_url
from tests.security.conftest import stored_report

NUL, RLO, PDI, C1 = "\x00", "\u202e", "\u2069", "\x85"
EMOJI = "🧑\u200d💻🚀"  # 4-byte code points joined by a ZWJ: kept
ODD = f"A{NUL}B{RLO}gpj.exe{PDI} C{C1}D\r\nE\x07F\x1bG {EMOJI} 한국어"
CLEAN = f"ABgpj.exe CD\nEFG {EMOJI} 한국어"


def _no_controls(text: str) -> bool:
    return not any(
        unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text
    ) and not any(0x202A <= ord(ch) <= 0x202E or 0x2066 <= ord(ch) <= 0x2069 for ch in text)


def test_clean_text() -> None:
    assert clean_text(ODD) == CLEAN
    assert clean_text("plain ascii") == "plain ascii"
    assert clean_text("tab\tand\nnewline") == "tab\tand\nnewline"
    assert clean_text("lone \ud800 surrogate \udfff") == "lone  surrogate "
    assert clean_text("e\u0301 \u200f") == "e\u0301 \u200f"  # combining mark, RLM: kept
    assert scrub({"a\x00": [ODD, 3, None, {"x": "\x01y"}]}) == {"a": [CLEAN, 3, None, {"x": "y"}]}


async def test_odd_text_in_every_field_is_stored_cleaned(det_node: Node) -> None:
    assert det_node.edge is not None and det_node.pool is not None
    c = Client(ws_url(det_node))
    await c.connect()
    # a lone surrogate is not JSON text at all: refused, the connection stays up
    for field in ("resume_text", "job_posting"):
        await c.send('{"type":"start","' + field + '":"x\\ud800y"}')
    await c.send('{"type":"answer_text","text":"x\\udc00y"}')
    await c.wait_for("error", count=3, timeout=10 * TIME)
    assert {e["code"] for e in c.rx.of("error")} == {"bad_json"}

    await c.send(
        {
            "type": "start",
            "role": "backend",
            "language": "en",
            "questions": 2,
            "resume_text": ODD * 3,
            "job_posting": ODD,
        }
    )
    answered: set[int] = set()
    loop = asyncio.get_running_loop()
    end = loop.time() + 90 * TIME
    while not c.rx.of("report") and loop.time() < end:
        for turn in c.asked_turns():
            if turn not in answered:
                answered.add(turn)
                await c.send({"type": "answer_text", "text": ODD})
        await c.next_event(max(0.1, end - loop.time()))
    live = c.rx.of("report")[0]["report"]
    await c.close()

    reply = await stored_report(det_node.edge.port, c.session_id, c.token)
    assert reply.status == 200
    stored = msgspec.json.decode(reply.body)
    answers = [a["answer"] for a in stored["answers"] if a.get("answer")]
    kept = " ".join(CLEAN.split())  # the session keeps answers with spaces joined
    assert answers and all(a == kept for a in answers), answers
    assert stored["answers"] == live["answers"]
    assert _no_controls(json.dumps(stored, ensure_ascii=False))
    assert EMOJI in reply.body.decode()
    # the résumé and posting were embedded (not dropped after failed jobs), cleaned
    rows = await det_node.pool.fetch(
        "SELECT kind, content FROM chunks WHERE session_id = $1", c.session_id
    )
    assert {r["kind"] for r in rows} >= {"resume"}, rows
    assert all(_no_controls(r["content"]) for r in rows)
    # and the HTML page shows them escaped, without the controls
    html = await det_node.pool.fetchval(
        "SELECT answer FROM turns WHERE session_id = $1 ORDER BY turn DESC LIMIT 1", c.session_id
    )
    assert html is not None and _no_controls(html)


async def test_report_postgres_refuses_is_stored_cleaned(det_node: Node) -> None:
    """A report with a NUL (say, from a model) fails as bad input in Postgres; the actor
    stores it cleaned instead of losing it."""
    assert det_node.pool is not None and det_node.sessions is not None
    pool = det_node.pool
    bad = {"summary": f"model said {NUL} this", "answers": [{"answer": "a\x00b"}]}
    await pool.execute("INSERT INTO sessions (id) VALUES ('nulReport0001')")
    with pytest.raises(asyncpg.PostgresError) as refused:
        await reports.save_report(pool, "nulReport0001", bad)
    assert not isinstance(refused.value, asyncpg.PostgresConnectionError)
    await pool.execute("DELETE FROM sessions WHERE id = 'nulReport0001'")

    c = Client(ws_url(det_node))
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": 1})
    await c.wait_for("question", timeout=30 * TIME)
    actor = det_node.sessions.actors[c.session_id]
    actor.writer.put(cmd.PersistReport(report=bad))  # what the core would emit
    await asyncio.wait_for(actor.writer.join(), 10 * TIME)
    got = await reports.load_report(pool, c.session_id)
    assert got == {"summary": "model said  this", "answers": [{"answer": "ab"}]}
    await c.close()
