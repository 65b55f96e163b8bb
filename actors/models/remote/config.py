"""Configuration of the remote (OpenAI-compatible) engines, from the environment.

``PARLEY_LLM_URL`` set means the LLM actor uses a server instead of the embedded llama.cpp:

==============================  ==========================================================
``PARLEY_LLM_URL``              base URL of the API, e.g. ``http://gpu1:8000/v1`` (``/v1``
                                is appended when missing)
``PARLEY_LLM_MODEL``            the model name the server serves (empty: the first one
                                ``GET /v1/models`` lists)
``PARLEY_LLM_API_KEY``          bearer token; or ``PARLEY_LLM_API_KEY_FILE``, a file holding
                                it (preferred: keeps it out of ``ps`` and the environment of
                                children)
``PARLEY_LLM_CONCURRENCY``      requests one LLM actor keeps in flight (default 4); the
                                embedded engine is always one at a time
``PARLEY_LLM_STRUCTURED``       how the assessment is constrained: ``auto`` (default: try
                                ``json_schema``, then ``json_object``, then none, and keep
                                what the server accepted), ``json_schema`` (OpenAI
                                ``response_format``; vLLM, llama-server, Ollama),
                                ``json_object`` (llama-cpp-python's server: schema inside
                                ``json_object``), ``gbnf`` (llama.cpp's ``grammar`` field:
                                the same language-aware grammar as the embedded engine),
                                ``none`` (a validated parse only)
``PARLEY_LLM_CONNECT_TIMEOUT_S``  connect timeout per request (default 5; every request is
                                also bounded by its job's deadline)
``PARLEY_LLM_START_TIMEOUT_S``  how long the actor waits for the server at start (60)
==============================  ==========================================================

``PARLEY_STT_URL`` (with ``PARLEY_STT_MODEL``, default ``whisper-1``, and
``PARLEY_STT_API_KEY`` / ``PARLEY_STT_API_KEY_FILE``, ``PARLEY_STT_CONCURRENCY``) does the
same for speech to text.

``PARLEY_TTS_URL`` sends the interviewer's voice to a ``/v1/audio/speech`` server
(:class:`SpeechConfig`), for the languages that name a voice there:

==============================  ==========================================================
``PARLEY_TTS_VOICE_KO``         the server's voice for Korean interviews (e.g. a neural
                                Korean voice); unset: Korean keeps the embedded voice
``PARLEY_TTS_VOICE_EN``         the same for English
``PARLEY_TTS_MODEL``            the model name the server expects (default ``tts-1``)
``PARLEY_TTS_API_KEY``          bearer token, or ``PARLEY_TTS_API_KEY_FILE``
``PARLEY_TTS_FORMAT``           ``wav`` (default: the header gives the sample rate) or
                                ``pcm`` (raw PCM16 at ``PARLEY_TTS_PCM_RATE``, 24000 as
                                OpenAI sends it)
``PARLEY_TTS_CONCURRENCY``      utterances one TTS actor keeps in flight (default 4)
``PARLEY_TTS_CONNECT_TIMEOUT_S``  connect timeout per request (default 2)
``PARLEY_TTS_FIRST_AUDIO_S``    the first audio must arrive within this (default 3,
                                retries included), else the embedded voice speaks
``PARLEY_TTS_READ_TIMEOUT_S``   longest silence inside a stream (default 3)
==============================  ==========================================================
"""

from __future__ import annotations

__all__ = ["STRUCTURED_MODES", "RemoteConfig", "SpeechConfig", "StructuredMode"]

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

StructuredMode = Literal["auto", "json_schema", "json_object", "gbnf", "none"]
STRUCTURED_MODES: tuple[StructuredMode, ...] = (
    "auto",
    "json_schema",
    "json_object",
    "gbnf",
    "none",
)


def _base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"inference server URL must be http(s)://..., not {url!r}")
    return url if url.endswith("/v1") else url + "/v1"


def _key(env: Mapping[str, str], prefix: str) -> str:
    if path := env.get(f"{prefix}_API_KEY_FILE"):
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{prefix}_API_KEY_FILE {path!r}: {exc.strerror}") from None
    return env.get(f"{prefix}_API_KEY", "").strip()


@dataclass(frozen=True)
class RemoteConfig:
    """One remote engine's settings. ``url`` is the API's base URL (``/v1`` is appended
    when missing). ``api_key`` is never logged (``repr`` hides it)."""

    url: str
    model: str = ""
    api_key: str = field(default="", repr=False)
    concurrency: int = 4
    structured: StructuredMode = "auto"
    connect_timeout_s: float = 5.0
    start_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", _base_url(self.url))

    @classmethod
    def llm_from_env(cls, env: Mapping[str, str] | None = None) -> RemoteConfig | None:
        """The remote LLM's settings, or None when ``PARLEY_LLM_URL`` is unset. Raises
        ValueError for a bad value (the process should not start half-configured)."""
        return cls._from_env(os.environ if env is None else env, "PARLEY_LLM", "")

    @classmethod
    def stt_from_env(cls, env: Mapping[str, str] | None = None) -> RemoteConfig | None:
        """The remote STT's settings, or None when ``PARLEY_STT_URL`` is unset."""
        return cls._from_env(os.environ if env is None else env, "PARLEY_STT", "whisper-1")

    @classmethod
    def _from_env(cls, env: Mapping[str, str], prefix: str, model: str) -> RemoteConfig | None:
        url = env.get(f"{prefix}_URL", "").strip()
        if not url:
            return None
        structured = env.get(f"{prefix}_STRUCTURED", "auto").strip() or "auto"
        if structured not in STRUCTURED_MODES:
            raise ValueError(f"{prefix}_STRUCTURED must be one of {STRUCTURED_MODES}")
        concurrency = int(env.get(f"{prefix}_CONCURRENCY", "4"))
        if not 1 <= concurrency <= 256:
            raise ValueError(f"{prefix}_CONCURRENCY must be 1..256, not {concurrency}")
        return cls(
            url=url,
            model=env.get(f"{prefix}_MODEL", model).strip(),
            api_key=_key(env, prefix),
            concurrency=concurrency,
            structured=structured,
            connect_timeout_s=float(env.get(f"{prefix}_CONNECT_TIMEOUT_S", "5")),
            start_timeout_s=float(env.get(f"{prefix}_START_TIMEOUT_S", "60")),
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass(frozen=True)
class SpeechConfig:
    """The remote voice's settings (see the module docstring). ``voices`` maps the
    languages that use the server (``en``, ``ko``) to the server's voice names."""

    remote: RemoteConfig
    voices: dict[str, str]
    response_format: str = "wav"
    pcm_rate: int = 24000
    first_audio_s: float = 3.0
    read_timeout_s: float = 3.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SpeechConfig | None:
        """The settings, or None when ``PARLEY_TTS_URL`` is unset. Raises ValueError for a
        bad value, or a URL without any ``PARLEY_TTS_VOICE_<LANG>``."""
        env = os.environ if env is None else env
        remote = RemoteConfig._from_env(env, "PARLEY_TTS", "tts-1")
        if remote is None:
            return None
        if "PARLEY_TTS_CONNECT_TIMEOUT_S" not in env:
            remote = dataclasses.replace(remote, connect_timeout_s=2.0)
        voices = {
            lang: v.strip()
            for lang in ("en", "ko")
            if (v := env.get(f"PARLEY_TTS_VOICE_{lang.upper()}", "")).strip()
        }
        if not voices:
            raise ValueError(
                "PARLEY_TTS_URL is set but no PARLEY_TTS_VOICE_KO / PARLEY_TTS_VOICE_EN "
                "names the server's voice for a language"
            )
        fmt = env.get("PARLEY_TTS_FORMAT", "wav").strip().lower() or "wav"
        if fmt not in ("wav", "pcm"):
            raise ValueError(f"PARLEY_TTS_FORMAT must be wav or pcm, not {fmt!r}")
        return cls(
            remote=remote,
            voices=voices,
            response_format=fmt,
            pcm_rate=int(env.get("PARLEY_TTS_PCM_RATE", "24000")),
            first_audio_s=float(env.get("PARLEY_TTS_FIRST_AUDIO_S", "3")),
            read_timeout_s=float(env.get("PARLEY_TTS_READ_TIMEOUT_S", "3")),
        )
