"""The remote voice (``POST /v1/audio/speech``) against a real speech server in its own
process (:mod:`parley.tts_server`: piper's voice, itself a child process, and espeak-ng):
streamed audio in both formats, retry with backoff, a server that is down, one killed
mid-stream; then the TTS actor on a real nats-server falling back to the embedded voice
and coming back to the server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from nats.aio.client import Client as Nats

from actors.models.engines.tts_espeak import EspeakTts
from actors.models.engines.tts_router import TtsRouter
from actors.models.remote.config import SpeechConfig
from actors.models.remote.http import RemoteError
from actors.models.remote.tts_openai import OpenAiTts
from actors.models.service import TtsActor
from bus import jobs, subjects
from bus.embedded import free_port
from bus.provision import BusLayout
from bus.requests import request_job
from parley.tts_server import PCM_RATE, TtsServer, start_tts_server, tts_server
from tests.conftest import TIME
from tests.models.conftest import needs_speech_tools, rms

pytestmark = [pytest.mark.models, needs_speech_tools]

SENTENCES = (
    "Thank you for coming in today. Tell me about a project you led from start to "
    "finish, and what you would do differently now."
)


def _cfg(url: str, **kw: Any) -> SpeechConfig:
    cfg = SpeechConfig.create(url, voices={"en": "joe", "ko": "ko"}, **kw)
    assert cfg is not None
    return cfg


def _engine(url: str, voice: str = "joe", **kw: Any) -> OpenAiTts:
    engine = OpenAiTts(_cfg(url, **kw), voice)
    engine.load()
    return engine


@pytest.fixture(scope="module")
def server() -> Iterator[TtsServer]:
    with tts_server(voices=["joe=piper", "ko=espeak:ko"]) as s:
        yield s


@pytest.mark.parametrize("fmt", ["wav", "pcm"])
def test_streams_the_servers_voice_as_it_comes(server: TtsServer, fmt: str) -> None:
    engine = _engine(server.url, response_format=fmt)
    try:
        started = time.monotonic()
        got: list[tuple[int, bytes, float]] = []
        for rate, pcm in engine.stream(SENTENCES, time.time() + 30):
            got.append((rate, pcm, time.monotonic() - started))
        assert {r for r, _, _ in got} == {22050 if fmt == "wav" else PCM_RATE}
        audio = b"".join(p for _, p, _ in got)
        seconds = len(audio) / 2 / got[0][0]
        assert 4.0 < seconds < 15.0, seconds
        assert rms(audio) > 0.02
        # streamed: the first chunk came well before the last (piper renders per sentence)
        assert got[0][2] < got[-1][2]
        assert engine.requests >= 2 and engine.failures == 0  # load's word, then this
        # Korean through the same server (espeak-ng behind it)
        ko = _engine(server.url, "ko", response_format=fmt)
        try:
            assert rms(b"".join(ko.synthesize("안녕하세요. 자기소개를 부탁드립니다."))) > 0.02
        finally:
            ko.close()
    finally:
        engine.close()


def test_an_overloaded_server_is_retried_with_backoff() -> None:
    with tts_server(voices=["joe=piper"], fail_first=3) as s:
        engine = OpenAiTts(_cfg(s.url), "joe")
        engine.load()  # its first word meets 503s, retried until the audio comes
        try:
            assert engine.requests == 4 and engine.failures == 0
            assert engine.sample_rate == 22050
            assert rms(b"".join(engine.synthesize("Hello there."))) > 0.02
        finally:
            engine.close()


def test_a_server_that_is_down_fails_fast_and_is_left_alone() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nobody listens
    engine = _engine(url)  # load logs it, does not raise: the backup voice will speak
    try:
        assert engine.failures == 1 and engine.down_for() > 0
        started = time.monotonic()
        with pytest.raises(RemoteError, match="left alone"):
            list(engine.synthesize("Hello."))
        assert time.monotonic() - started < 0.05  # no network while it is left alone
        engine._down_until = 0.0  # the window ran out
        started = time.monotonic()
        with pytest.raises(RemoteError):
            list(engine.synthesize("Hello."))
        # refused connections are retried within the first-audio budget, then given up
        assert time.monotonic() - started < _cfg(url).first_audio_s + 1.0
        assert engine.failures == 2 and engine.down_for() > 2.0  # a longer window
    finally:
        engine.close()


def test_a_server_killed_mid_stream_ends_the_stream_with_an_error_not_a_hang() -> None:
    srv = start_tts_server(voices=["joe=piper"], realtime=True)
    try:
        engine = _engine(srv.url)
        got = 0
        started = time.monotonic()
        with pytest.raises(RemoteError, match=r"cut|too slow"):
            for _rate, pcm in engine.stream(SENTENCES * 3, time.time() + 60):
                got += len(pcm)
                if got > 22050:  # half a second of audio heard: the server dies
                    srv.kill()
        assert got > 22050
        assert time.monotonic() - started < 15.0
        assert engine.failures == 1
        engine.close()
    finally:
        srv.stop()


# --- the TTS actor: the embedded voice as the backup ------------------------------------


async def _speak(
    nc: Nats, job: jobs.TtsJob, timeout: float, on_chunk: Callable[[int], None] | None = None
) -> list[Any]:
    """The results of ``job`` (only its own), until its ``TtsDone``; ``on_chunk(n)`` after
    the n-th chunk."""
    sub = await nc.jetstream().subscribe(
        subjects.session_result(job.session_id),
        ordered_consumer=True,
        stream=subjects.STREAM_RESULTS,
    )
    out: list[Any] = []
    try:
        await request_job(
            nc.jetstream(),
            "tts",
            job,
            reply_to=subjects.session_result(job.session_id),
            deadline=time.time() + 30,
        )
        end = time.monotonic() + timeout
        while not any(isinstance(r, jobs.TtsDone) for r in out):
            msg = await sub.next_msg(timeout=max(0.1, end - time.monotonic()))
            result = jobs.decode_result(msg.data)
            if result.job_id != job.job_id:
                continue
            out.append(result)
            if on_chunk is not None and isinstance(result, jobs.TtsChunk):
                on_chunk(len(out))
    finally:
        await sub.unsubscribe()
    return out


def _job(sid: str, n: int, text: str) -> jobs.TtsJob:
    return jobs.TtsJob(job_id=f"{sid}:{n}:tts", session_id=sid, language="en", text=text)


def _rates(results: list[Any]) -> list[int]:
    return [r.sample_rate for r in results if isinstance(r, jobs.TtsChunk)]


async def test_the_actor_speaks_with_the_backup_while_the_server_is_away(
    nc: Nats, layout: BusLayout
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    # pcm: the server's voice at 24 kHz, the backup (espeak-ng) at 22.05 kHz
    remote = OpenAiTts(_cfg(url, response_format="pcm", first_audio_s=1.5), "joe")
    backup = EspeakTts("en-us")
    actor = TtsActor(nc, TtsRouter({"en": remote}, backups={"en": backup}), layout.audio)
    await actor.start()  # the server is down: the actor is ready all the same
    srv: TtsServer | None = None
    sid = "sess-remote-tts-1"
    try:
        # 1. the server is down: the embedded voice speaks
        res = await _speak(nc, _job(sid, 1, "First question."), 20 * TIME)
        assert _rates(res) and set(_rates(res)) == {backup.sample_rate}
        assert actor.fallbacks == 1
        # 2. the server comes back: its voice speaks again (after its window ran out)
        srv = await asyncio.to_thread(
            start_tts_server, port=port, voices=["joe=piper"], realtime=True
        )
        remote._down_until = 0.0  # do not wait out the window in a test
        res = await _speak(nc, _job(sid, 2, "Second question."), 20 * TIME)
        assert _rates(res) and set(_rates(res)) == {PCM_RATE}
        assert actor.fallbacks == 1
        # 3. killed mid-stream: what was said stays, then the backup says it all, whole
        server = srv

        def kill_after_some_audio(n: int) -> None:
            if n == 3:
                server.kill()

        res = await _speak(nc, _job(sid, 3, SENTENCES * 2), 40 * TIME, kill_after_some_audio)
        rates = _rates(res)
        cut = rates.index(backup.sample_rate)
        assert cut >= 3 and set(rates[:cut]) == {PCM_RATE}, rates
        assert set(rates[cut:]) == {backup.sample_rate}
        chunks = [r for r in res if isinstance(r, jobs.TtsChunk)]
        assert [c.index for c in chunks] == list(range(len(chunks)))
        backup_audio = b"".join(c.pcm for c in chunks[cut:])
        whole = b"".join(backup.synthesize(SENTENCES * 2))
        assert abs(len(backup_audio) - len(whole)) < 4096  # the whole text again
        done = res[-1]
        assert isinstance(done, jobs.TtsDone) and done.chunks == len(chunks)
        assert actor.fallbacks == 2
    finally:
        await actor.stop()
        remote.close()
        if srv is not None:
            srv.stop()
