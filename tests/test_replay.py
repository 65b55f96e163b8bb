"""Replay and "delete my interview", over a real nats-server and Postgres: a spoken
answer's audio lands in the ``answer_audio`` object store, is served to the session and
report tokens, and deleting the interview with its session token removes the audio
from the store, and the session's snapshot, turns and report from Postgres (the row stays
as an empty tombstone that a still-running actor cannot write back)."""

from __future__ import annotations

import asyncio
import io
import wave

import msgspec
import numpy as np
import pytest
from nats.aio.client import Client as Nats

from bus import subjects
from bus.provision import ReplayLimits, provision
from bus.replay import load_answer, object_name
from parley.client import Client
from parley.node import Node
from persistence import reports, retention, snapshots, transcripts
from tests.conftest import ws_url
from tests.security.conftest import get

pytestmark = pytest.mark.timeout(120)

SPOKEN_S = 1.8


def _tone(seconds: float, dbfs: float) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    x = 10 ** (dbfs / 20) * np.sqrt(2) * np.sin(2 * np.pi * 220 * t)
    pcm: bytes = (x * 32767).astype("<i2").tobytes()
    return pcm


async def _spoken_interview(node: Node) -> tuple[Client, dict[str, object]]:
    c = Client(ws_url(node))
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": 1})
    q = await c.wait_for("question", where=lambda e: e["kind"] == "main", timeout=60)
    await c.wait_for(
        "state", timeout=60, where=lambda e: e["state"] == "listening" and e["seq"] > q["seq"]
    )
    await c.speak(_tone(SPOKEN_S - 0.3, -20.0) + _tone(0.3, -30.0), silence_s=2.0)
    await c.wait_for("transcript", where=lambda e: e["final"], timeout=30)
    await c.send({"type": "end"})
    report = (await c.wait_for("report", timeout=60))["report"]
    return c, report


async def _wav(port: int, sid: str, turn: int, token: str) -> bytes | None:
    for _ in range(50):  # the actor stores the audio beside the turn, not before it
        reply = await get(port, f"/sessions/{sid}/answers/{turn}?token={token}")
        if reply.status == 200:
            assert reply.headers["content-type"] == "audio/wav"
            return reply.body
        assert reply.status == 404, reply
        await asyncio.sleep(0.1)
    return None


async def test_spoken_answer_is_replayable_and_deleted_with_the_interview(det_node: Node) -> None:
    assert det_node.edge is not None and det_node.pool is not None and det_node.nc is not None
    port = det_node.edge.port
    c, report = await _spoken_interview(det_node)
    sid, token = c.session_id, c.token
    answers = report["answers"]
    assert isinstance(answers, list) and answers[0]["source"] == "speech"
    assert answers[0]["delivery"]["spoken"] is True
    turn = int(answers[0]["turn"])

    share = await get(port, f"/sessions/{sid}/share", extra=f"Authorization: Bearer {token}\n")
    report_token = msgspec.json.decode(share.body)["report_token"]
    replay_token = msgspec.json.decode(share.body)["replay_token"]
    body = await _wav(port, sid, turn, replay_token)
    assert body is not None, "the answer's audio was not stored"
    with wave.open(io.BytesIO(body)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
        seconds = w.getnframes() / w.getframerate()
    # the voiced segment, with its pre-roll and the silence up to the cut
    assert SPOKEN_S - 0.2 <= seconds <= SPOKEN_S + 2.0, seconds
    assert (await get(port, f"/sessions/{sid}/answers/{turn}?token=nope")).status == 401
    # the shared link's report token reads the report and nothing else
    assert (await get(port, f"/sessions/{sid}/answers/{turn}?token={report_token}")).status == 401
    assert await _wav(port, sid, turn, token) == body  # the session token hears it too

    # only the session token deletes, and only with the DELETE method on the session
    refused = await get(
        port, f"/sessions/{sid}", method="DELETE", extra=f"Authorization: Bearer {report_token}\n"
    )
    assert refused.status == 401
    assert (await get(port, f"/sessions/{sid}/report", method="DELETE")).status == 405
    gone = await get(
        port, f"/sessions/{sid}", method="DELETE", extra=f"Authorization: Bearer {token}\n"
    )
    assert gone.status == 200, gone
    assert msgspec.json.decode(gone.body) == {"deleted": True, "audio": 1}
    await c.close()

    store = await det_node.nc.jetstream().object_store(subjects.OBJ_REPLAY)
    assert await load_answer(store, sid, turn) is None
    meta = await store.get_info(object_name(sid, turn), show_deleted=True)
    assert meta.deleted and meta.size == 0  # only a tombstone; the chunks are purged
    pool = det_node.pool
    assert await reports.load_report(pool, sid) is None
    for table in ("turns", "reports", "chunks"):
        n = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE session_id = $1", sid)
        assert n == 0, table
    # the session row is an empty tombstone: no snapshot (the transcript lived there too)
    row = await pool.fetchrow("SELECT status, snapshot, fence FROM sessions WHERE id = $1", sid)
    assert row is not None and row["status"] == "deleted" and row["snapshot"] is None
    assert row["fence"] == retention.DELETED_FENCE
    # every token of the deleted session is revoked
    for t in (token, replay_token):
        assert (await get(port, f"/sessions/{sid}/answers/{turn}?token={t}")).status == 401
    for t in (token, report_token):
        assert (await get(port, f"/sessions/{sid}/report?token={t}")).status == 401

    # an actor still running cannot write the deleted interview back
    await transcripts.save_turn(
        pool, sid, turn, question="q", answer="a", source="speech", assessment=None, latency={}
    )
    await reports.save_report(pool, sid, {"session_id": sid})
    with pytest.raises(snapshots.StaleFence):
        await snapshots.save_snapshot(pool, sid, b"state", fence=10**9, seq=1, owner="n")
    assert await transcripts.load_turns(pool, sid) == []
    assert await reports.load_report(pool, sid) is None
    status = await pool.fetchval("SELECT status FROM sessions WHERE id = $1", sid)
    assert status == "deleted"


async def test_replay_limits_are_the_stores_and_follow_the_config(nc: Nats) -> None:
    js = nc.jetstream()
    stream = f"OBJ_{subjects.OBJ_REPLAY}"
    layout = await provision(
        js, owner_ttl=2.0, replay=ReplayLimits(ttl_s=3600.0, max_bytes=8 << 20)
    )
    assert layout.replay is not None
    cfg = (await js.stream_info(stream)).config
    assert (cfg.max_age, cfg.max_bytes) == (3600.0, 8 << 20)
    # an operator changes the retention: provisioning applies it to the existing store
    await provision(js, owner_ttl=2.0, replay=ReplayLimits())
    cfg = (await js.stream_info(stream)).config
    assert (cfg.max_age, cfg.max_bytes) == (7 * 86_400.0, 1 << 30)
