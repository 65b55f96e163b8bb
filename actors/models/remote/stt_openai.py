"""Speech to text on an OpenAI-compatible server: ``POST /v1/audio/transcriptions``
(vLLM with a Whisper model, faster-whisper servers such as speaches, OpenAI itself).

A synchronous :class:`~actors.models.engines.SttEngine`: the STT actor runs it on its
threads like the embedded Whisper, and it is thread-safe (one connection pool), so the actor
may run ``concurrency`` segments at once. Each call is bounded by ``request_timeout_s``
(retries with backoff on 429/5xx and dropped connections included). The language is always
given (never auto-detected) and the prompt is passed as Whisper's ``prompt``. A transcript
that is empty after trimming is ``no_speech``.
"""

from __future__ import annotations

__all__ = ["OpenAiStt"]

import time

import httpx2 as httpx

from actors.models.audio import wav_bytes
from actors.models.engines import EngineError, Transcription
from actors.models.remote import http
from actors.models.remote.config import RemoteConfig


class OpenAiStt:
    """See the module docstring."""

    thread_safe = True
    device = "remote"

    def __init__(self, cfg: RemoteConfig, *, request_timeout_s: float = 15.0) -> None:
        self.cfg = cfg
        self.name = f"openai:{cfg.model}"
        self.concurrency = cfg.concurrency
        self._timeout_s = request_timeout_s
        self._client: httpx.Client | None = None

    def load(self) -> None:
        """Open the connection pool (the server is reached on the first call)."""
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.cfg.url,
                headers=self.cfg.headers(),
                limits=httpx.Limits(max_connections=self.cfg.concurrency * 2),
            )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def transcribe(
        self, pcm: bytes, sample_rate: int, language: str, prompt: str = ""
    ) -> Transcription:
        if len(pcm) % 2:
            raise EngineError("PCM16 audio must have an even byte count")
        if self._client is None:
            raise EngineError("OpenAiStt.load() was not called")
        audio_ms = len(pcm) * 500 // max(sample_rate, 1)
        deadline = time.time() + self._timeout_s
        data = {
            "model": self.cfg.model,
            "language": language.split("-", 1)[0],
            "response_format": "json",
            "temperature": "0",
        }
        if prompt:
            data["prompt"] = prompt[-400:]
        files = {"file": ("segment.wav", wav_bytes(pcm, sample_rate), "audio/wav")}
        for attempt in http.retrying_sync(deadline, "stt"):
            with attempt:
                try:
                    resp = self._client.post(
                        "/audio/transcriptions",
                        data=data,
                        files=files,
                        timeout=http.timeout(self.cfg, deadline),
                    )
                except httpx.TransportError as exc:
                    raise http.transport_error(exc) from None
                if resp.status_code >= 300:
                    raise http.status_error(
                        resp.status_code,
                        "/audio/transcriptions",
                        resp.text[:300],
                        resp.headers.get("retry-after"),
                    )
        try:
            text = str(resp.json().get("text") or "").strip()
        except ValueError:
            raise EngineError("the STT server sent no JSON") from None
        return Transcription(text=text, no_speech=not text, audio_ms=audio_ms)
