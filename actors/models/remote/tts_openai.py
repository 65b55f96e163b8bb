"""The interviewer's voice on an OpenAI-compatible speech server: ``POST /v1/audio/speech``
(OpenAI itself, Kokoro-FastAPI, openedai-speech, speaches, a vLLM/LocalAI TTS, or any
server an operator puts a neural Korean voice behind).

A synchronous :class:`~actors.models.engines.TtsEngine` for ONE voice, thread-safe (one
connection pool), so the TTS actor may keep several utterances in flight. Audio is read as
it arrives (servers that stream send it while they synthesise) and handed on in chunks:

- ``wav`` (default): the RIFF header gives the sample rate; streaming servers put
  placeholder sizes in it, so everything after the ``data`` chunk header is audio;
- ``pcm``: raw PCM16LE mono at the configured rate (OpenAI's is 24 kHz).

Bounds (every wait on the network has one): connect within ``connect_timeout_s``; the
first audio within ``first_audio_s`` (503/429/502/504 and refused or dropped connections
are retried with backoff and jitter inside that budget, honouring ``Retry-After``); each
later read within ``read_timeout_s``; the whole utterance by the caller's deadline. A
failure raises :class:`~actors.models.remote.http.RemoteError`, also when the server dies
mid-stream (the audio already yielded stays yielded): the TTS actor then lets the embedded
voice speak (see :class:`~actors.models.service.tts.TtsActor`).

After a failure the server is left alone for a while (2 s, doubling to 30 s while it keeps
failing): calls in that window fail at once without touching the network, so a server
that is down costs the interviews nothing but the fallback voice. The first success closes
the window.
"""

from __future__ import annotations

__all__ = ["OpenAiTts"]

import contextlib
import logging
import threading
import time
import urllib.parse
from collections.abc import Generator, Iterator

import httpx2 as httpx

from actors.interview.text import speakable
from actors.models.audio import parse_wav_header
from actors.models.engines import EngineError
from actors.models.remote import http
from actors.models.remote.config import SpeechConfig

log = logging.getLogger(__name__)

_MAX_INPUT = 4096  # OpenAI's limit on ``input``
_COOLDOWN_MIN_S = 2.0
_COOLDOWN_MAX_S = 30.0


class OpenAiTts:
    """One voice of a speech server (see the module docstring)."""

    thread_safe = True
    device = "remote"

    def __init__(self, cfg: SpeechConfig, voice: str, *, chunk_bytes: int = 8820) -> None:
        self.cfg = cfg
        self.voice = voice
        # the server is part of the name: the TTS cache keys audio by it
        host = urllib.parse.urlsplit(cfg.remote.url).netloc
        self.name = f"openai-tts:{host}:{cfg.remote.model}:{voice}"
        #: utterances the TTS actor may keep in flight on this voice
        self.concurrency = cfg.remote.concurrency
        #: the rate of the last audio received (``pcm``: the configured one); 0 until then
        self.sample_rate = cfg.pcm_rate if cfg.response_format == "pcm" else 0
        self._chunk = max(2, chunk_bytes - chunk_bytes % 2)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._failures = 0
        self._down_until = 0.0
        #: counters for stats and tests
        self.requests = 0
        self.failures = 0

    # --- lifecycle -----------------------------------------------------------------------

    def load(self) -> None:
        """Open the connection pool and say one word to the server (learning its sample
        rate). A server that does not answer is logged, not raised: the embedded voice
        speaks until it does."""
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.cfg.remote.url,
                headers=self.cfg.remote.headers(),
                limits=httpx.Limits(max_connections=self.cfg.remote.concurrency * 2),
            )
        try:
            for _ in self.stream("Ready.", time.time() + max(5.0, self.cfg.first_audio_s)):
                pass
        except EngineError as exc:
            log.warning(
                "speech server %s (voice %s) not answering at start (%s): the embedded "
                "voice speaks until it does",
                self.cfg.remote.url,
                self.voice,
                exc,
            )
        else:
            log.info(
                "TTS voice %s on %s at %d Hz", self.voice, self.cfg.remote.url, self.sample_rate
            )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def down_for(self) -> float:
        """Seconds left before the server is tried again (0: it is tried now)."""
        return max(0.0, self._down_until - time.monotonic())

    # --- synthesis -------------------------------------------------------------------------

    def synthesize(self, text: str) -> Generator[bytes, None, None]:
        """PCM16LE chunks at :attr:`sample_rate` (see :meth:`stream`, without a deadline
        of the caller's: 30 s)."""
        for _rate, pcm in self.stream(text, time.time() + 30.0):
            yield pcm

    def stream(self, text: str, deadline: float) -> Iterator[tuple[int, bytes]]:
        """(sample rate, PCM16LE mono chunk) as the server sends them, until the utterance
        ends. ``deadline`` is wall-clock (``time.time()``). Raises
        :class:`~actors.models.remote.http.RemoteError` when the server fails, is down or
        left alone after failing, or misses a bound (see the module docstring)."""
        client = self._client
        if client is None:
            raise EngineError("OpenAiTts.load() was not called")
        line = " ".join(text.split())[:_MAX_INPUT]
        if not speakable(line):
            return
        left = self.down_for()
        if left > 0:
            raise http.RemoteError(
                f"speech server left alone for {left:.1f} s more after failing",
                retryable=False,
            )
        first_by = min(deadline, time.time() + self.cfg.first_audio_s)
        body = {
            "model": self.cfg.remote.model,
            "input": line,
            "voice": self.voice,
            "response_format": self.cfg.response_format,
        }
        ok: bool | None = False
        try:
            resp: httpx.Response | None = None
            for attempt in http.retrying_sync(first_by, "tts"):
                with attempt:
                    resp = self._open(client, body, first_by)
            assert resp is not None
            yield from self._read(resp, first_by, deadline)
            ok = True
        except GeneratorExit:
            ok = None  # the caller stopped listening: says nothing of the server
            raise
        finally:
            if ok is not None:
                self._settle(ok)

    def _open(self, client: httpx.Client, body: dict[str, str], first_by: float) -> httpx.Response:
        """Send the request; the response once its status is good (its body unread)."""
        left = max(0.05, http.remaining(first_by))
        timeout = httpx.Timeout(
            min(self.cfg.read_timeout_s, left),
            connect=min(self.cfg.remote.connect_timeout_s, left),
            pool=left,
        )
        self.requests += 1
        try:
            request = client.build_request("POST", "/audio/speech", json=body, timeout=timeout)
            resp = client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise http.transport_error(exc) from None
        if resp.status_code >= 300:
            try:
                detail = resp.read()[:300].decode("utf-8", "replace")
            except httpx.HTTPError:
                detail = ""
            finally:
                resp.close()
            raise http.status_error(
                resp.status_code, "/audio/speech", detail, resp.headers.get("retry-after")
            )
        return resp

    def _read(
        self, resp: httpx.Response, first_by: float, deadline: float
    ) -> Iterator[tuple[int, bytes]]:
        rate = self.cfg.pcm_rate if self.cfg.response_format == "pcm" else 0
        buf = b""
        said = False
        with contextlib.closing(resp):
            try:
                for data in resp.iter_bytes():
                    now = time.time()
                    if now > deadline or (not said and now > first_by):
                        raise http.RemoteError("speech server too slow", retryable=False)
                    buf += data
                    if not rate:
                        rate, buf = self._header(buf)
                        if not rate:
                            continue
                    while len(buf) >= self._chunk:
                        said = True
                        yield rate, buf[: self._chunk]
                        buf = buf[self._chunk :]
            except httpx.HTTPError as exc:
                raise http.RemoteError(
                    f"speech stream cut: {type(exc).__name__}: {exc}", retryable=False
                ) from None
        if not rate:
            raise http.RemoteError("the speech server sent no audio header", retryable=False)
        if len(buf) >= 2:
            yield rate, buf[: len(buf) - len(buf) % 2]

    def _header(self, buf: bytes) -> tuple[int, bytes]:
        """(sample rate, the bytes after the WAV header), or (0, ``buf``) until it is whole."""
        try:
            fmt = parse_wav_header(buf)
        except ValueError as exc:
            bad = f"bad audio from the speech server: {exc}"
            raise http.RemoteError(bad, retryable=False) from None
        if fmt is None:
            if len(buf) > 65536:
                raise http.RemoteError("no WAV data chunk in 64 KiB", retryable=False)
            return 0, buf
        if fmt.channels != 1 or fmt.bits != 16:
            raise http.RemoteError(
                f"speech server sent {fmt.channels} channel(s) of {fmt.bits} bits; "
                "mono PCM16 needed",
                retryable=False,
            )
        self.sample_rate = fmt.sample_rate
        return fmt.sample_rate, buf[fmt.header_len :]

    def _settle(self, ok: bool) -> None:
        """Open or close the window in which the server is left alone."""
        with self._lock:
            if ok:
                if self._failures:
                    log.info("speech server %s answers again", self.cfg.remote.url)
                self._failures, self._down_until = 0, 0.0
                return
            self.failures += 1
            self._failures += 1
            wait = min(_COOLDOWN_MAX_S, _COOLDOWN_MIN_S * 2 ** (self._failures - 1))
            self._down_until = time.monotonic() + wait
            log.warning(
                "speech server %s failed (%d in a row): embedded voice for the next %.0f s",
                self.cfg.remote.url,
                self._failures,
                wait,
            )
