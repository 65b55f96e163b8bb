"""Configuration of the remote (OpenAI-compatible) engines.

A process builds it once from its settings (:func:`parley.node.engine_options` calls
:meth:`RemoteConfig.create`); the variables behind them:

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


def _key(api_key: str, api_key_file: Path | None, what: str) -> str:
    if api_key_file is not None:
        try:
            return api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{what}_API_KEY_FILE {str(api_key_file)!r}: {exc.strerror}") from None
    return api_key.strip()


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
    def create(
        cls,
        url: str,
        *,
        what: str,
        model: str = "",
        api_key: str = "",
        api_key_file: Path | None = None,
        concurrency: int = 4,
        structured: StructuredMode = "auto",
        connect_timeout_s: float = 5.0,
        start_timeout_s: float = 60.0,
    ) -> RemoteConfig | None:
        """The settings of one remote engine, or None when ``url`` is empty (embedded).
        ``api_key_file`` wins over ``api_key``. Raises ValueError for a bad value, naming
        it after ``what`` (``PARLEY_LLM``, ``PARLEY_STT``): the process should not start
        half-configured."""
        if not url.strip():
            return None
        if structured not in STRUCTURED_MODES:
            raise ValueError(f"{what}_STRUCTURED must be one of {STRUCTURED_MODES}")
        if not 1 <= concurrency <= 256:
            raise ValueError(f"{what}_CONCURRENCY must be 1..256, not {concurrency}")
        return cls(
            url=url,
            model=model.strip(),
            api_key=_key(api_key, api_key_file, what),
            concurrency=concurrency,
            structured=structured,
            connect_timeout_s=connect_timeout_s,
            start_timeout_s=start_timeout_s,
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass(frozen=True)
class SpeechConfig:
    """The remote voice's settings (see the module docstring). ``voices`` maps the
    languages that use the server (``en``, ``ko``) to the server's voice names."""

    remote: RemoteConfig
    voices: dict[str, str]
    response_format: Literal["wav", "pcm"] = "wav"
    pcm_rate: int = 24000
    first_audio_s: float = 3.0
    read_timeout_s: float = 3.0

    @classmethod
    def create(
        cls,
        url: str,
        *,
        voices: dict[str, str],
        model: str = "tts-1",
        api_key: str = "",
        api_key_file: Path | None = None,
        concurrency: int = 4,
        connect_timeout_s: float = 2.0,
        response_format: str = "wav",
        pcm_rate: int = 24000,
        first_audio_s: float = 3.0,
        read_timeout_s: float = 3.0,
    ) -> SpeechConfig | None:
        """The settings, or None when ``url`` is empty (the embedded voices). Raises
        ValueError for a bad value, or a URL without a voice for any language."""
        remote = RemoteConfig.create(
            url,
            what="PARLEY_TTS",
            model=model,
            api_key=api_key,
            api_key_file=api_key_file,
            concurrency=concurrency,
            connect_timeout_s=connect_timeout_s,
        )
        if remote is None:
            return None
        named = {lang: v.strip() for lang, v in voices.items() if v.strip()}
        if not named:
            raise ValueError(
                "PARLEY_TTS_URL is set but no PARLEY_TTS_VOICE_KO / PARLEY_TTS_VOICE_EN "
                "names the server's voice for a language"
            )
        if response_format not in ("wav", "pcm"):
            raise ValueError(f"PARLEY_TTS_FORMAT must be wav or pcm, not {response_format!r}")
        return cls(
            remote=remote,
            voices=named,
            response_format="pcm" if response_format == "pcm" else "wav",
            pcm_rate=pcm_rate,
            first_audio_s=first_audio_s,
            read_timeout_s=read_timeout_s,
        )
