"""A whole interview through the real edge, session actors and model actors, over a real
nats-server and Postgres, with the deterministic model backend (a test backend: the
default run uses the real models, see tests/e2e)."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from parley.client import Client
from parley.node import Node
from persistence import reports, transcripts
from tests.conftest import TEST_SECRET, ws_url

pytestmark = pytest.mark.timeout(120)


async def test_typed_interview_to_stored_report(det_node: Node) -> None:
    c = Client(ws_url(det_node))
    ready = await c.connect()
    assert ready["session_id"] and ready["token"]
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": 2})
    report = await c.typed_interview(
        "In my last role I led the migration of our payments API to an event-driven "
        "design, which cut p99 latency by forty percent."
    )
    assert report["answers"], report
    assert {"relevance", "depth", "clarity", "role_fit"} <= set(report["scores"])
    assert 1 <= report["overall"] <= 5
    assert c.rx.audio, "interviewer audio frames arrived"
    seqs = [e["seq"] for e in c.rx.events if e.get("seq")]
    assert seqs == sorted(set(seqs)), "no gap in order, no duplicate"
    await c.close()
    assert det_node.pool is not None
    for _ in range(50):
        stored = await reports.load_report(det_node.pool, c.session_id)
        if stored:
            break
        await asyncio.sleep(0.1)
    assert stored is not None and stored["answers"] == report["answers"]
    turns = await transcripts.load_turns(det_node.pool, c.session_id)
    assert len(turns) >= 2 and all(t.answer for t in turns)


async def test_report_needs_its_token(det_node: Node) -> None:
    c = Client(ws_url(det_node))
    await c.connect()
    other = Client(ws_url(det_node))
    await other.connect()
    assert det_node.edge is not None
    base = f"http://127.0.0.1:{det_node.edge.port}/sessions/{c.session_id}/report"

    def status(url: str) -> int:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    assert await asyncio.to_thread(status, base) == 401
    assert await asyncio.to_thread(status, f"{base}?token={other.token}") == 401
    assert await asyncio.to_thread(status, f"{base}?token={c.token}") == 404  # not yet written
    await c.close()
    await other.close()


async def test_bad_input_gets_errors_and_session_survives(det_node: Node) -> None:
    c = Client(ws_url(det_node))
    await c.connect()
    await c.send("{not json")
    await c.send({"type": "warp_drive"})
    await c.send({"type": "answer_text", "text": "before start"})
    await c.send(b"\x01")  # odd-length audio
    await c.wait_for("error", count=4, timeout=10)
    codes = [e["code"] for e in c.rx.of("error")]
    assert codes[:2] == ["bad_json", "bad_message"]
    assert "not_started" in codes
    await c.send({"type": "start", "role": "general", "language": "en", "questions": 1})
    await c.wait_for("question", timeout=30, where=lambda e: e["kind"] == "main")
    await c.close()


async def test_wrong_token_and_unknown_session_are_refused(det_node: Node) -> None:
    c = Client(ws_url(det_node))
    await c.connect()
    await c.close()
    bad = Client(ws_url(det_node))
    with pytest.raises(ConnectionError):
        await bad.connect(session_id=c.session_id, token=c.token[:-2] + "xx")
    assert bad.closed is not None and bad.closed[0] == 4401
    assert bad.rx.of("error")[0]["code"] == "bad_token"
    from edge import auth

    ghost = "ghost-session-0001"
    unknown = Client(ws_url(det_node))
    with pytest.raises(ConnectionError):
        await unknown.connect(session_id=ghost, token=auth.sign(TEST_SECRET.encode(), ghost))
    assert unknown.closed is not None and unknown.closed[0] == 4404


async def test_resume_replays_missed_events_without_duplicates(det_node: Node) -> None:
    c = Client(ws_url(det_node))
    await c.connect()
    await c.send({"type": "start", "role": "data", "language": "ko", "questions": 1})
    await c.wait_for("question", timeout=30, where=lambda e: e["kind"] == "main")
    seen = c.last_seq
    all_before = [e["seq"] for e in c.rx.events if e.get("seq")]
    await c.close()
    r = Client(ws_url(det_node))
    ready = await r.connect(session_id=c.session_id, token=c.token, last_seq=seen - 2)
    assert ready["resumed"] is True
    await r.wait_for("question", timeout=10, where=lambda e: e["seq"] > seen - 2)
    replayed = [e["seq"] for e in r.rx.events if e.get("seq")]
    assert replayed[0] == seen - 1, "replay starts right after last_seq"
    assert set(replayed) >= set(s for s in all_before if s > seen - 2)
    await r.close()
