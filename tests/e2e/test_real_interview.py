"""End to end with the real models: a Python WebSocket client runs whole short interviews.

English: the candidate's answers are spoken (espeak-ng) and streamed in real time as PCM
frames; Korean: typed (no synthetic Korean voice here is clear enough for Whisper). Then
the server restarts and the report is still readable with its token, and not without it.
"""

from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bench.speech import have_speech_tools, speak_pcm16
from parley.client import Client
from parley.config import Config
from parley.node import Node
from persistence import reports, transcripts
from tests.conftest import Servers, assert_no_new_tasks

pytestmark = [pytest.mark.models, pytest.mark.e2e, pytest.mark.timeout(600)]

HANGUL = re.compile(r"[\uac00-\ud7a3]")
ANSWER_EN = (
    "I built a payment service in Python that handled ten thousand requests per "
    "second. I measured the latency and reduced it by half."
)
KEYWORDS = (
    "payment",
    "service",
    "python",
    "thousand",
    "10,000",
    "request",
    "second",
    "measured",
    "latency",
    "half",
)


def _cfg(servers: Servers, tmp: Path, roles: str = "edge,session,stt,llm,tts,embed") -> Config:
    return Config(
        nats_url=servers.nats.url,
        nats_credentials=servers.nats_credentials,
        database_url=servers.dsn,
        port=0,
        roles=tuple(roles.split(",")),
        models="real",
        node_id="e2e",
        secret="e2e-secret",
        data_dir=tmp,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def real_node(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Node]:
    before = set(asyncio.all_tasks())
    node = Node(_cfg(servers, tmp_path_factory.mktemp("e2e")))
    await node.start()
    try:
        yield node
    finally:
        await node.stop()
    await assert_no_new_tasks(before, "the real-model node")


def _url(node: Node) -> str:
    assert node.edge is not None
    return f"ws://127.0.0.1:{node.edge.port}/ws"


async def _answer_by_voice(c: Client, pcm: bytes, tries: int = 3) -> str:
    """Speak the answer; if the interviewer asks to repeat (STT missed its deadline on a
    slow machine), speak it again. Return the final transcript."""
    for _ in range(tries):
        n_final = len([e for e in c.rx.of("transcript") if e["final"]])
        n_repeat = len([e for e in c.rx.of("question") if e["kind"] == "repeat"])
        await c.speak(pcm)
        while True:
            finals = [e for e in c.rx.of("transcript") if e["final"]]
            if len(finals) > n_final:
                return str(finals[-1]["text"])
            repeats = [e for e in c.rx.of("question") if e["kind"] == "repeat"]
            if len(repeats) > n_repeat:
                await _wait_listening(c, repeats[-1]["seq"])
                break
            await c.next_event(120)
    raise AssertionError("the answer was never transcribed")


async def _wait_listening(c: Client, after: int) -> None:
    await c.wait_for(
        "state", timeout=120, where=lambda e: e["state"] == "listening" and e["seq"] > after
    )


@pytest.mark.skipif(not have_speech_tools(), reason="espeak-ng and sox are installed by make")
async def test_spoken_english_interview(real_node: Node, servers: Servers, tmp_path: Path) -> None:
    pcm = speak_pcm16(ANSWER_EN)
    c = Client(_url(real_node))
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": 2})
    answered: set[int] = set()
    finals: list[str] = []
    while not c.rx.of("report"):
        pending = [t for t in c.asked_turns() if t not in answered]
        if not pending:
            await c.next_event(180)
            continue
        turn = pending[0]
        answered.add(turn)
        q = [e for e in c.rx.of("question") if e["turn"] == turn][-1]
        assert q["text"].strip()
        await _wait_listening(c, q["seq"] - 1)
        finals.append(await _answer_by_voice(c, pcm))
    report = c.rx.of("report")[0]["report"]
    await c.close()

    # questions arrived as text and as audio; transcripts hold the spoken words
    assert len(c.asked_turns()) >= 2
    assert {a[0] for a in c.rx.audio} >= set(c.asked_turns()[:1]), "question audio arrived"
    for text in finals:
        heard = sum(k in text.lower() for k in KEYWORDS)
        assert heard >= 3, f"transcript {text!r} misses the spoken words"
    assert report["answers"] and report["overall"] is not None
    assert {"relevance", "depth", "clarity", "role_fit"} <= set(report["scores"])

    # stored, and readable after a restart with the token only
    assert real_node.pool is not None
    turns = await transcripts.load_turns(real_node.pool, c.session_id)
    assert any(sum(k in t.answer.lower() for k in KEYWORDS) >= 3 for t in turns)
    # the report event can reach the client a moment before its write commits
    stored = None
    for _ in range(300):
        stored = await reports.load_report(real_node.pool, c.session_id)
        if stored is not None:
            break
        await asyncio.sleep(0.1)
    assert stored is not None, "the report was never stored"
    fresh = Node(_cfg(servers, tmp_path, roles="edge"))
    await fresh.start()
    try:
        assert fresh.edge is not None
        url = f"http://127.0.0.1:{fresh.edge.port}/sessions/{c.session_id}/report"
        assert await asyncio.to_thread(_status, url) == 401
        assert await asyncio.to_thread(_status, f"{url}?token={c.token}") == 200
    finally:
        await fresh.stop()


async def test_korean_interview_typed(real_node: Node) -> None:
    c = Client(_url(real_node))
    await c.connect()
    await c.send({"type": "start", "role": "general", "language": "ko", "questions": 1})
    report = await c.typed_interview(
        "지난 프로젝트에서 팀원과 의견이 달랐을 때, 데이터를 근거로 설득해서 출시 일정을 "
        "지켰습니다. 그 결과 장애 없이 배포했습니다.",
        timeout=400,
    )
    await c.close()
    questions = [e["text"] for e in c.rx.of("question") if e["kind"] in ("main", "followup")]
    assert questions and all(HANGUL.search(q) for q in questions), questions
    assert c.rx.audio, "Korean interviewer audio arrived"
    assert HANGUL.search(report["summary"]), report["summary"]
    assert report["answers"]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
