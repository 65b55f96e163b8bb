"""The OpenAI-compatible LLM engine against a tiny real HTTP server on loopback that answers
with canned replies, overload errors (429/503) and broken streams: retries with backoff
bounded by the deadline, the stream closed at the deadline, structured-output detection.
The engine against a real model server is in tests/e2e/test_remote_llm_server.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from actors.models.engines import EngineCancelled, EngineError
from actors.models.remote.config import RemoteConfig
from actors.models.remote.http import RemoteError
from actors.models.remote.llm_openai import OpenAiLlm
from bus.jobs import LlmJob
from parley.config import Config
from parley.node import remote_engine

Writer = asyncio.StreamWriter
Reader = asyncio.StreamReader
Reply = Callable[[dict[str, Any], Reader, Writer], Awaitable[None]]


def _sse(*texts: str) -> bytes:
    events = [
        "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": t}}]}) + "\n\n"
        for t in texts
    ]
    return ("".join(events) + "data: [DONE]\n\n").encode()


async def _respond(
    w: Writer,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> None:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    w.write(head.encode() + b"\r\n" + body)
    await w.drain()


def stream(*texts: str) -> Reply:
    async def reply(_req: dict[str, Any], _r: Reader, w: Writer) -> None:
        await _respond(w, 200, _sse(*texts), content_type="text/event-stream")

    return reply


def status(code: int, retry_after: str | None = None) -> Reply:
    async def reply(_req: dict[str, Any], _r: Reader, w: Writer) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        await _respond(w, code, b'{"error": {"message": "busy"}}', headers)

    return reply


def cut(*texts: str) -> Reply:
    """Start a stream, send ``texts``, then drop the connection (a server that died)."""

    async def reply(_req: dict[str, Any], _r: Reader, w: Writer) -> None:
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for t in texts:
            ev = "data: " + json.dumps({"choices": [{"delta": {"content": t}}]}) + "\n\n"
            data = ev.encode()
            w.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await w.drain()
        w.transport.abort()

    return reply


@dataclass
class FakeServer:
    """Serves ``/v1/models`` always, and the next scripted reply for each completion."""

    replies: list[Reply] = field(default_factory=list)
    fallback: Reply | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    async def handle(self, r: asyncio.StreamReader, w: Writer) -> None:
        try:
            line = (await r.readline()).decode()
            headers: dict[str, str] = {}
            while h := (await r.readline()).decode().strip():
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
            body = await r.readexactly(int(headers.get("content-length", "0")))
            if " /v1/models " in line:
                await _respond(w, 200, b'{"data": [{"id": "tiny"}]}')
                return
            self.requests.append(json.loads(body))
            reply = self.replies.pop(0) if self.replies else self.fallback
            assert reply is not None, "unexpected request"
            await reply(self.requests[-1], r, w)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.disconnected.set()
        finally:
            with contextlib.suppress(Exception):
                w.close()


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeServer]:
    srv = FakeServer()
    server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    srv.port = server.sockets[0].getsockname()[1]
    try:
        yield srv
    finally:
        server.close()
        await server.wait_closed()


async def engine(fake: FakeServer, **kw: Any) -> OpenAiLlm:
    e = OpenAiLlm(RemoteConfig(url=f"http://127.0.0.1:{fake.port}", **kw))
    await e.load()
    return e


def question_job(**kw: Any) -> LlmJob:
    base: dict[str, Any] = dict(
        job_id="j1",
        session_id="s1",
        task="question",
        language="en",
        role="backend developer",
        max_tokens=64,
    )
    return LlmJob(**{**base, **kw})


async def sentences(e: OpenAiLlm, job: LlmJob, seconds: float = 20.0) -> list[str]:
    return [s async for s in e.generate(job, time.time() + seconds)]


async def test_streams_one_clean_question_and_picks_the_served_model(fake: FakeServer) -> None:
    fake.replies = [
        stream("Sure! Here is my question:\n", "What did you ", "build last year? ", "And why?")
    ]
    e = await engine(fake)
    try:
        assert await sentences(e, question_job()) == ["What did you build last year?"]
        assert e.name == "openai:tiny"
        req = fake.requests[0]
        assert req["model"] == "tiny" and req["stream"] is True
        assert req["messages"][0]["role"] == "system"
        assert "<role>backend developer</role>" in req["messages"][-1]["content"]
    finally:
        await e.close()


async def test_overload_is_retried_with_backoff(fake: FakeServer) -> None:
    fake.replies = [status(429, retry_after="0"), status(503), stream("How did you test it?")]
    e = await engine(fake)
    try:
        assert await sentences(e, question_job()) == ["How did you test it?"]
        assert len(fake.requests) == 3
    finally:
        await e.close()


async def test_lasting_overload_gives_up_at_the_deadline(fake: FakeServer) -> None:
    fake.fallback = status(503)
    e = await engine(fake)
    try:
        with pytest.raises(RemoteError) as err:
            await sentences(e, question_job(), seconds=2.0)
        assert err.value.status == 503
        assert len(fake.requests) >= 2, "retried before giving up"
        assert e.in_flight == 0
    finally:
        await e.close()


async def test_a_client_error_is_not_retried(fake: FakeServer) -> None:
    fake.fallback = status(401)
    e = await engine(fake)
    try:
        with pytest.raises(RemoteError) as err:
            await sentences(e, question_job())
        assert err.value.status == 401 and len(fake.requests) == 1
    finally:
        await e.close()


async def test_stream_cut_before_any_text_is_retried(fake: FakeServer) -> None:
    fake.replies = [cut(), stream("Which part was hardest?")]
    e = await engine(fake)
    try:
        assert await sentences(e, question_job()) == ["Which part was hardest?"]
    finally:
        await e.close()


async def test_stream_cut_mid_sentence_fails_the_job_and_is_not_replayed(
    fake: FakeServer,
) -> None:
    fake.replies = [cut("Tell me about", " the time you")]
    fake.fallback = stream("This must not be asked?")
    e = await engine(fake)
    try:
        with pytest.raises(RemoteError):
            await sentences(e, question_job())
        assert len(fake.requests) == 1, "text already streamed is never streamed twice"
    finally:
        await e.close()


async def test_stream_cut_after_a_sentence_keeps_it(fake: FakeServer) -> None:
    fake.replies = [cut("Let's talk about scale. ", "How big was the data? ", "And")]
    e = await engine(fake)
    try:
        assert await sentences(e, question_job()) == [
            "Let's talk about scale.",
            "How big was the data?",
        ]
    finally:
        await e.close()


async def test_deadline_closes_the_stream(fake: FakeServer) -> None:
    async def stall(_req: dict[str, Any], r: Reader, w: Writer) -> None:
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        await w.drain()
        await asyncio.wait_for(r.read(), 10)  # open, silent, until the client hangs up
        fake.disconnected.set()

    fake.replies = [stall]
    e = await engine(fake)
    try:
        assert await sentences(e, question_job(), seconds=1.0) == []
        assert e.in_flight == 0
        await asyncio.wait_for(fake.disconnected.wait(), 5)  # the server saw the hang-up
    finally:
        await e.close()


async def test_followup_phrases_the_quoted_gap(fake: FakeServer) -> None:
    fake.replies = [stream("How much faster ", "did it get?")]
    e = await engine(fake)
    try:
        quoted = question_job(
            task="followup",
            question="Tell me about a project.",
            answer="I made the site faster.",
            anchor="I made the site faster",
            term="result",
        )
        assert await sentences(e, quoted) == ["How much faster did it get?"]
        assert "<said>I made the site faster</said>" in fake.requests[0]["messages"][-1]["content"]
        with pytest.raises(EngineError, match="anchor"):
            await sentences(e, question_job(task="followup", answer="I made the site faster."))
        assert len(fake.requests) == 1
    finally:
        await e.close()


def assess_job() -> LlmJob:
    return question_job(
        task="assess",
        question="Tell me about a project.",
        answer="I built a payment service and cut latency by half.",
    )


GOOD = json.dumps(
    {
        "relevance": 4,
        "depth": 3,
        "clarity": 4,
        "role_fit": 4,
        "improvement": "Say how you measured the latency.",
    }
)


async def test_assessment_detects_structured_output_and_validates(fake: FakeServer) -> None:
    fake.replies = [status(422), stream(GOOD[:20], GOOD[20:])]
    e = await engine(fake)
    try:
        out = await e.assess(assess_job(), time.time() + 20)
        assert out["fallback"] is False and out["depth"] == 3
        assert fake.requests[0]["response_format"]["type"] == "json_schema"
        assert fake.requests[1]["response_format"]["type"] == "json_object"
        assert e.structured == "json_object"
        fake.replies = [stream(GOOD)]
        await e.assess(assess_job(), time.time() + 20)
        assert fake.requests[2]["response_format"]["type"] == "json_object", "remembered"
    finally:
        await e.close()


async def test_assessment_without_constraints_parses_a_chatty_reply(fake: FakeServer) -> None:
    fake.replies = [stream("Here is the JSON:\n```json\n", GOOD, "\n```")]
    e = await engine(fake, structured="none")
    try:
        out = await e.assess(assess_job(), time.time() + 20)
        assert out["fallback"] is False and out["relevance"] == 4
        assert "response_format" not in fake.requests[0]
    finally:
        await e.close()


async def test_assessment_gives_the_marked_fallback_for_nonsense(fake: FakeServer) -> None:
    fake.fallback = stream("I think the answer is good.")
    e = await engine(fake, structured="gbnf")
    try:
        out = await e.assess(assess_job(), time.time() + 20)
        assert out["fallback"] is True
        assert "grammar" in fake.requests[0] and len(fake.requests) == 2
    finally:
        await e.close()


async def test_assessment_at_its_deadline_is_cancelled(fake: FakeServer) -> None:
    async def slow(_req: dict[str, Any], r: Reader, w: Writer) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(r.read(), 5)  # the client hangs up at its deadline
            return
        await _respond(w, 200, _sse(GOOD), content_type="text/event-stream")

    fake.fallback = slow
    e = await engine(fake, structured="none")
    try:
        with pytest.raises(EngineCancelled):
            await e.assess(assess_job(), time.time() + 0.5)
    finally:
        await e.close()


def test_config_from_the_settings(tmp_path: Path) -> None:
    assert remote_engine(Config.from_env({}), "llm") is None
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    cfg = remote_engine(
        Config.from_env(
            {
                "PARLEY_LLM_URL": "http://gpu1:8000/",
                "PARLEY_LLM_MODEL": "qwen",
                "PARLEY_LLM_API_KEY_FILE": str(key),
                "PARLEY_LLM_CONCURRENCY": "16",
                "PARLEY_LLM_STRUCTURED": "json_schema",
            }
        ),
        "llm",
    )
    assert cfg is not None
    assert (cfg.url, cfg.model, cfg.concurrency, cfg.structured) == (
        "http://gpu1:8000/v1",
        "qwen",
        16,
        "json_schema",
    )
    assert cfg.headers() == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(cfg)
    for bad in (
        {"PARLEY_LLM_URL": "gpu1:8000"},
        {"PARLEY_LLM_URL": "http://x", "PARLEY_LLM_STRUCTURED": "xml"},
        {"PARLEY_LLM_URL": "http://x", "PARLEY_LLM_CONCURRENCY": "0"},
        {"PARLEY_LLM_URL": "http://x", "PARLEY_LLM_API_KEY_FILE": str(tmp_path / "no")},
    ):
        with pytest.raises(ValueError):
            remote_engine(Config.from_env(bad), "llm")


async def test_outline_is_cleaned_bullet_lines(fake: FakeServer) -> None:
    fake.replies = [
        stream("- Your **cache** project at the shop\n", "2. What you did\n- 30% faster")
    ]
    e = await engine(fake)
    try:
        job = question_job(
            task="outline",
            question="Tell me about a project.",
            answer="I made the site faster.",
            context=["Cut latency 30%"],
        )
        out = await e.outline(job, time.time() + 20)
        assert out == "- Your cache project at the shop\n- What you did\n- 30% faster"
        assert "<resume>Cut latency 30%</resume>" in fake.requests[0]["messages"][-1]["content"]
    finally:
        await e.close()
