"""Native engine crashes under the ``parley up`` supervisor, during a spoken interview.

The LLM process gets SIGSEGV while it generates the first question, the STT process SIGSEGV
while the candidate speaks, the TTS process SIGKILL while it streams a question. The
interview finishes with every turn and the report stored, the client sees no seq gap and
no error (only the normal fallbacks), the edge+session process is never touched, and
each engine's process is back and ready. A role whose process dies at every load is
marked down while the node keeps serving, without spinning.

The engines are the deterministic backend slowed down (each LLM job takes seconds, TTS
streams in real time) so a signal lands mid-job; the processes and signals are real."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import numpy as np
import pytest

from bus import subjects
from parley.client import Client
from persistence import reports, transcripts
from persistence.pool import create_pool
from tests.chaos.harness import (
    ANSWER,
    Fleet,
    assert_clean_seqs,
    assert_one_activation_at_a_time,
    bus_client,
    decode,
    timeline,
    wait_until,
)
from tests.conftest import TIME

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

ALL = "edge,session,stt,llm,tts,embed"
FAST_RESTART = {"PARLEY_RESTART_BACKOFF_MIN_S": "0.2", "PARLEY_RESTART_BACKOFF_MAX_S": "1"}


async def _supervised(nc: Any) -> dict[str, dict[str, Any]]:
    msg = await nc.request("$SRV.STATS.parley-supervisor", b"", timeout=2.0)
    roles: dict[str, dict[str, Any]] = decode(msg.data)["endpoints"][0]["data"]["roles"]
    return roles


async def _pending(js: Any, kind: str) -> bool:
    info = await js.consumer_info(subjects.STREAM_JOBS, subjects.job_consumer(kind))
    return bool(info.num_ack_pending)


def _voice(seconds: float) -> bytes:
    """A loud vowel-like tone: speech to the deterministic voice detector and STT."""
    t = np.arange(int(16000 * seconds)) / 16000
    wave = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (wave * 32767).astype("<i2").tobytes()


async def _answer_rest(c: Client, timeout: float) -> dict[str, Any]:
    """Type an answer to every turn still open (a main question, a follow-up, or a request
    to repeat) until the report arrives. A turn's question can come in several events (a
    quoted opening, then the question): one answer per turn."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout

    def key(q: dict[str, Any]) -> tuple[str, int]:
        return ("repeat", q["seq"]) if q["kind"] == "repeat" else ("turn", q["turn"])

    answered = {
        key(q)
        for q in c.rx.of("question")
        if any(
            t["final"] and t["turn"] == q["turn"] and t["_t"] > q["_t"]
            for t in c.rx.of("transcript")
        )
    }
    while not c.rx.of("report"):
        for q in c.rx.of("question"):
            if q["kind"] in ("main", "followup", "repeat") and key(q) not in answered:
                answered.add(key(q))
                await c.wait_for(
                    "state",
                    timeout=30 * TIME,
                    where=lambda e, s=q["seq"]: e["state"] == "listening" and e["seq"] > s,
                )
                await c.send({"type": "answer_text", "text": ANSWER})
        await c.next_event(max(0.1, end - loop.time()))
    report: dict[str, Any] = c.rx.of("report")[0]["report"]
    return report


async def test_engine_crashes_mid_interview_are_survived(fleet: Fleet) -> None:
    up = fleet.start(
        "up",
        ALL,
        supervised=True,
        env={
            **FAST_RESTART,
            "PARLEY_DETERMINISTIC_DELAY_MS": "2500",
            "PARLEY_DETERMINISTIC_TTS_REALTIME": "1",
            "PARLEY_WARMING_POLL_S": "0.2",  # the edge looks often enough to see each outage
        },
    )
    await up.ready(60)
    nc = await bus_client(fleet.nats_url)
    js = nc.jetstream()
    c = Client(fleet.edge_url(up))
    try:
        before = await _supervised(nc)
        await c.connect()
        await c.send({"type": "start", "role": "backend", "language": "en", "questions": 2})

        # 1. the LLM process dies with SIGSEGV while it generates the first question
        await wait_until(lambda: _pending(js, "llm"), 30, "an LLM job in flight")
        os.kill(before["llm"]["pid"], signal.SIGSEGV)

        # 2. the TTS process is SIGKILLed while it streams (the greeting or the question)
        async def kill_tts_mid_stream() -> None:
            await wait_until(lambda: _pending(js, "tts"), 60, "a TTS job streaming")
            os.kill((await _supervised(nc))["tts"]["pid"], signal.SIGKILL)

        tts_killed = asyncio.create_task(kill_tts_mid_stream())
        first = await c.wait_for("question", timeout=60 * TIME, where=lambda e: e["kind"] == "main")
        await c.wait_for(
            "state",
            timeout=30 * TIME,
            where=lambda e: e["state"] == "listening" and e["seq"] > first["seq"],
        )

        await tts_killed
        # 3. the STT process dies with SIGSEGV while the candidate is speaking
        speaking = asyncio.create_task(c.speak(_voice(4.0), silence_s=2.5))
        await asyncio.sleep(1.5)
        stt_pid = (await _supervised(nc))["stt"]["pid"]
        os.kill(stt_pid, signal.SIGSEGV)
        await speaking

        report = await _answer_rest(c, 150 * TIME)
        print(timeline(c))
        assert len(report["answers"]) >= 2, report
        assert all(a["answer"] for a in report["answers"]), report
        assert not c.rx.of("error"), timeline(c)
        # the page was told while the LLM was away, with an estimate, and when it was back
        told = c.rx.of("warming")
        assert any(isinstance(w["roles"].get("llm"), float) for w in told), told
        assert_clean_seqs(c)
        assert_one_activation_at_a_time(fleet)

        # every turn and the report are stored
        pool = await create_pool(fleet.dsn, max_size=1)
        try:
            turns = await transcripts.load_turns(pool, c.session_id)
            assert len(turns) >= 2, turns
            assert await reports.load_report(pool, c.session_id) is not None
        finally:
            await pool.close()

        # each engine came back; the process serving the client was never touched
        async def engines_back() -> bool:
            roles = await _supervised(nc)
            return all(
                roles[r]["state"] == "ready" and roles[r]["restarts"] >= 1
                for r in ("llm", "stt", "tts")
            )

        await wait_until(engines_back, 30, "llm, stt and tts ready again")
        await c.wait_for("warming", timeout=10 * TIME, where=lambda e: e["roles"] == {})
        roles = await _supervised(nc)
        assert roles["llm"]["last_exit"] == "killed by SIGSEGV", roles
        assert roles["stt"]["last_exit"] == "killed by SIGSEGV", roles
        assert roles["tts"]["last_exit"] == "killed by SIGKILL", roles
        front = roles["edge,session"]
        assert (front["restarts"], front["pid"]) == (0, before["edge,session"]["pid"]), roles
        assert roles["embed"]["restarts"] == 0, roles
    finally:
        await c.close()
        await nc.drain()


async def test_a_role_that_dies_at_every_load_is_marked_down(fleet: Fleet) -> None:
    """The LLM model file is broken: its process exits at load each time. The role is
    marked down after the crash-loop limit, /readyz says so, and the rest serves."""
    env = {
        **FAST_RESTART,
        "PARLEY_RESTART_CRASH_LOOP_LIMIT": "3",
        "PARLEY_LLM_GGUF": "/nonexistent/model.gguf",
    }
    up = fleet.start("up", "edge,session,llm", supervised=True, env=env, models="real")
    # the supervisor never prints "parley is up" for all roles: wait for the role to be down
    nc = await bus_client(fleet.nats_url)
    try:

        async def llm_down() -> bool:
            try:
                return bool((await _supervised(nc))["llm"]["state"] == "down")
            except Exception:
                return False

        await wait_until(llm_down, 60, "the llm role marked down")
        roles = await _supervised(nc)
        assert roles["llm"]["starts"] == 3, roles
        assert roles["llm"]["last_exit"].startswith("exit "), roles
        assert roles["edge,session"]["state"] == "ready", roles
        await asyncio.sleep(2.0)  # no spinning: no further start within the cooldown
        assert (await _supervised(nc))["llm"]["starts"] == 3
        # /readyz (on the edge's internal port) names the role that is down and since when
        import re
        import urllib.request

        internal = re.search(r"internal +http://127\.0\.0\.1:(\d+)", up.output())
        assert internal is not None, up.output()[-2000:]

        def readyz() -> tuple[int, dict[str, Any]]:
            url = f"http://127.0.0.1:{internal[1]}/readyz"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return r.status, decode(r.read())
            except urllib.error.HTTPError as e:
                return e.code, decode(e.read())

        status, body = await asyncio.to_thread(readyz)
        assert status == 503, body
        assert body["checks"]["llm"] is False, body
        llm = body["roles"]["up/llm"]
        assert llm["state"] == "down" and llm["since"], body
        # ... and that it is not warming towards a time anyone can say
        assert "llm" in body["warming"] and body["warming"]["llm"] is None, body
    finally:
        await nc.drain()
