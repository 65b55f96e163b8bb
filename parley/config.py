"""The one home of Parley's configuration: :class:`Config`, every setting of a process.

Each field is one setting, declared on one line with its environment variable, type and
default (see :mod:`parley.settings`): add a variable by adding a line here and a row to
docs/operating.md's table (``tests/test_config.py`` checks they match). A process builds
it once at start, :meth:`Config.from_env` (``parley up``/``node`` flags override it), and
passes it, or the parts derived from it (:meth:`edge_limits`, :meth:`retention`,
:meth:`model_files`, ...), down; nothing below ``parley`` reads the environment.
``parley config`` prints the effective settings, secrets masked.

When ``NATS_URL`` / ``DATABASE_URL`` are set nothing embedded starts: that is how a
deployment runs against a NATS cluster and a managed Postgres.
"""

from __future__ import annotations

__all__ = ["ALL_ROLES", "MODEL_ROLES", "Config", "load_secret"]

import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from actors.models.remote.config import StructuredMode
from bus.provision import ReplayLimits
from edge.limits import Limits
from parley import settings
from parley.settings import Env
from persistence.retention import DAY, Retention

if TYPE_CHECKING:
    from actors.models.assets import ModelFiles
    from parley.supervisor import RestartPolicy

ALL_ROLES: tuple[str, ...] = ("edge", "session", "stt", "llm", "tts", "embed")
MODEL_ROLES: tuple[str, ...] = ("stt", "llm", "tts", "embed")

REPO = Path(__file__).resolve().parents[1]


def _node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Config(msgspec.Struct, kw_only=True):
    """Every setting; docs/operating.md, "Configuration", says what each one does."""

    # --- servers, identity, the data directory --------------------------------------------
    data_dir: Annotated[Path, Env("PARLEY_DATA_DIR")] = REPO / "data"
    nats_url: Annotated[str, Env("NATS_URL")] = ""
    database_url: Annotated[str, Env("DATABASE_URL")] = ""
    #: a credentials file of :mod:`bus.auth` (JSON, user -> password): the process connects
    #: as the user of its roles and provisions as ``admin`` when the file has it
    nats_credentials: Annotated[str, Env("PARLEY_NATS_CREDENTIALS")] = ""
    #: create/update the streams at start (false: only look them up; ``parley up``'s
    #: children, provisioned by the supervisor)
    nats_provision: Annotated[bool, Env("PARLEY_NATS_PROVISION")] = True
    nats_replicas: Annotated[int, Env("PARLEY_NATS_REPLICAS")] = 1
    #: the CA that signed the NATS servers' certificates (``tls://`` URLs)
    nats_ca: Annotated[Path | None, Env("PARLEY_NATS_CA")] = None
    #: TLS for the embedded nats-server
    nats_tls_cert: Annotated[Path | None, Env("PARLEY_NATS_TLS_CERT")] = None
    nats_tls_key: Annotated[Path | None, Env("PARLEY_NATS_TLS_KEY")] = None
    nats_server: Annotated[Path | None, Env("PARLEY_NATS_SERVER")] = None
    nats_port: Annotated[int, Env("PARLEY_NATS_PORT")] = 4222
    #: the embedded nats-server's monitoring port (loopback); unset: no monitoring
    nats_monitor_port: Annotated[int | None, Env("PARLEY_NATS_MONITOR_PORT")] = None
    pg_port: Annotated[int, Env("PARLEY_PG_PORT")] = 5433
    pg_bin: Annotated[Path | None, Env("PARLEY_PG_BIN")] = None
    pg_shared: Annotated[Path, Env("PARLEY_PG_SHARED")] = Path("/var/lib/parley-pg")
    host: Annotated[str, Env("PARLEY_HOST")] = "127.0.0.1"
    port: Annotated[int, Env("PARLEY_PORT")] = 8080
    #: the internal port (loopback): /healthz, /readyz, /metrics; 0: a free one; -1: none;
    #: unset: the page's port + 1 (a free one when the page's port is 0)
    metrics_port: Annotated[int | None, Env("PARLEY_METRICS_PORT")] = None
    roles: Annotated[tuple[str, ...], Env("PARLEY_ROLES")] = ALL_ROLES
    node_id: Annotated[str, Env("PARLEY_NODE_ID")] = msgspec.field(default_factory=_node_id)
    secret: Annotated[str, Env("PARLEY_SECRET", secret=True)] = ""
    owner_ttl: Annotated[float, Env("PARLEY_OWNER_TTL")] = 5.0
    max_sessions: Annotated[int, Env("PARLEY_MAX_SESSIONS")] = 2000
    # --- edge admission (docs/operating.md, Security); 0 = no limit -----------------------
    #: browser origins allowed besides the page's own, comma-separated
    allowed_origins: Annotated[tuple[str, ...], Env("PARLEY_ALLOWED_ORIGINS")] = ()
    max_connections: Annotated[int, Env("PARLEY_MAX_CONNECTIONS")] = 2000
    max_connections_per_ip: Annotated[int, Env("PARLEY_MAX_CONNECTIONS_PER_IP")] = 32
    sessions_per_ip_per_min: Annotated[int, Env("PARLEY_SESSIONS_PER_IP_PER_MIN")] = 30
    start_timeout_s: Annotated[float, Env("PARLEY_START_TIMEOUT_S")] = 30.0
    #: a started session whose client sent no audio or answer this long is closed
    idle_timeout_s: Annotated[float, Env("PARLEY_IDLE_TIMEOUT_S")] = 600.0
    #: host names the page is served under besides IP literals and localhost
    allowed_hosts: Annotated[tuple[str, ...], Env("PARLEY_ALLOWED_HOSTS")] = ()
    #: lifetime of a session token in hours (renewed on every resume)
    session_token_hours: Annotated[float, Env("PARLEY_SESSION_TOKEN_HOURS")] = 12.0
    #: how often the edge looks which model roles are ready (the pages' warming banner)
    warming_poll_s: Annotated[float, Env("PARLEY_WARMING_POLL_S")] = 2.0
    # --- retention of sessions in Postgres and of answer audio ----------------------------
    retain_finished_days: Annotated[float, Env("PARLEY_RETAIN_FINISHED_DAYS")] = 30.0
    retain_abandoned_days: Annotated[float, Env("PARLEY_RETAIN_ABANDONED_DAYS")] = 7.0
    replay_days: Annotated[float, Env("PARLEY_REPLAY_DAYS")] = 7.0
    replay_max_mb: Annotated[int, Env("PARLEY_REPLAY_MAX_MB")] = 1024
    # --- the interview ---------------------------------------------------------------------
    #: with no résumé/posting, the LLM writes the main questions instead of the role's bank
    #: (slower and less on-role with the 1.5B model; the fault tests use it to have an LLM
    #: job in flight from the first question)
    llm_unplanned_questions: Annotated[bool, Env("PARLEY_LLM_UNPLANNED_QUESTIONS")] = False
    #: languages in which the LLM phrases follow-ups (and, with llm_questions, the planned
    #: main questions); the templates do the others (the 1.5B model's Korean questions were
    #: often ungrammatical); give a stronger remote model "en,ko"
    llm_phrasing: Annotated[str, Env("PARLEY_LLM_PHRASING")] = "en"
    #: the LLM phrases the planned main questions (a stronger model; the 1.5B one asked
    #: nonsense on résumés written outside the team)
    llm_questions: Annotated[bool, Env("PARLEY_LLM_QUESTIONS")] = False
    #: the LLM also phrases behaviour questions and their follow-ups (a stronger model)
    llm_behaviour: Annotated[bool, Env("PARLEY_LLM_BEHAVIOUR")] = False
    # --- models ------------------------------------------------------------------------------
    models: Annotated[Literal["real", "deterministic"], Env("PARLEY_MODELS")] = "real"
    embedder: Annotated[Literal["e5", "minilm"], Env("PARLEY_EMBEDDER")] = "e5"
    #: llama.cpp threads. One by default: its thread pool spins at a barrier after every
    #: graph node, so two threads on two cores shared with STT/TTS/the session ran 3-5x
    #: slower than one (``parley bench models --only llm-threads``, docs/scaling.md)
    llm_threads: Annotated[int, Env("PARLEY_LLM_THREADS")] = 1
    #: the other engines' threads (STT, embeddings)
    stt_threads: Annotated[int, Env("PARLEY_STT_THREADS")] = 2
    llm_gpu_layers: Annotated[int, Env("PARLEY_LLM_GPU_LAYERS")] = -1
    stt_beam: Annotated[int, Env("PARLEY_STT_BEAM")] = 1
    stt_window_s: Annotated[float, Env("PARLEY_STT_WINDOW_S")] = 10.0
    stt_device: Annotated[Literal["auto", "cpu", "cuda"], Env("PARLEY_STT_DEVICE")] = "auto"
    #: languages to voice specs, ``en=piper,ko=espeak:ko`` (empty: that default)
    tts_voices: Annotated[str, Env("PARLEY_TTS_VOICES")] = ""
    end_of_turn: Annotated[bool, Env("PARLEY_END_OF_TURN")] = True
    # --- models on an inference server (docs/scaling.md) ------------------------------------
    llm_url: Annotated[str, Env("PARLEY_LLM_URL")] = ""
    llm_model: Annotated[str, Env("PARLEY_LLM_MODEL")] = ""
    llm_api_key: Annotated[str, Env("PARLEY_LLM_API_KEY", secret=True)] = ""
    llm_api_key_file: Annotated[Path | None, Env("PARLEY_LLM_API_KEY_FILE")] = None
    llm_concurrency: Annotated[int, Env("PARLEY_LLM_CONCURRENCY")] = 4
    llm_structured: Annotated[StructuredMode, Env("PARLEY_LLM_STRUCTURED")] = "auto"
    llm_connect_timeout_s: Annotated[float, Env("PARLEY_LLM_CONNECT_TIMEOUT_S")] = 5.0
    llm_start_timeout_s: Annotated[float, Env("PARLEY_LLM_START_TIMEOUT_S")] = 60.0
    stt_url: Annotated[str, Env("PARLEY_STT_URL")] = ""
    stt_model: Annotated[str, Env("PARLEY_STT_MODEL")] = "whisper-1"
    stt_api_key: Annotated[str, Env("PARLEY_STT_API_KEY", secret=True)] = ""
    stt_api_key_file: Annotated[Path | None, Env("PARLEY_STT_API_KEY_FILE")] = None
    stt_concurrency: Annotated[int, Env("PARLEY_STT_CONCURRENCY")] = 4
    stt_connect_timeout_s: Annotated[float, Env("PARLEY_STT_CONNECT_TIMEOUT_S")] = 5.0
    stt_start_timeout_s: Annotated[float, Env("PARLEY_STT_START_TIMEOUT_S")] = 60.0
    #: the interviewer's voice from a speech server (``POST /v1/audio/speech``) for the
    #: languages that name a voice there; the embedded voice is the backup
    tts_url: Annotated[str, Env("PARLEY_TTS_URL")] = ""
    tts_voice_ko: Annotated[str, Env("PARLEY_TTS_VOICE_KO")] = ""
    tts_voice_en: Annotated[str, Env("PARLEY_TTS_VOICE_EN")] = ""
    tts_model: Annotated[str, Env("PARLEY_TTS_MODEL")] = "tts-1"
    tts_api_key: Annotated[str, Env("PARLEY_TTS_API_KEY", secret=True)] = ""
    tts_api_key_file: Annotated[Path | None, Env("PARLEY_TTS_API_KEY_FILE")] = None
    tts_concurrency: Annotated[int, Env("PARLEY_TTS_CONCURRENCY")] = 4
    tts_format: Annotated[Literal["wav", "pcm"], Env("PARLEY_TTS_FORMAT")] = "wav"
    tts_pcm_rate: Annotated[int, Env("PARLEY_TTS_PCM_RATE")] = 24000
    tts_connect_timeout_s: Annotated[float, Env("PARLEY_TTS_CONNECT_TIMEOUT_S")] = 2.0
    tts_first_audio_s: Annotated[float, Env("PARLEY_TTS_FIRST_AUDIO_S")] = 3.0
    tts_read_timeout_s: Annotated[float, Env("PARLEY_TTS_READ_TIMEOUT_S")] = 3.0
    # --- model files (actors/models/assets.py; unset: from the packages) -------------------
    model_cache: Annotated[Path, Env("PARLEY_MODEL_CACHE")] = REPO / ".cache" / "models"
    #: the LLM's evaluated prompt prefixes kept across starts: size bound (0: off, every
    #: start evaluates them) and directory (unset: ``<model cache>/llm-state``)
    llm_state_mb: Annotated[int, Env("PARLEY_LLM_STATE_MB")] = 256
    llm_state_dir: Annotated[Path | None, Env("PARLEY_LLM_STATE_DIR")] = None
    whisper_dir: Annotated[Path | None, Env("PARLEY_WHISPER_DIR")] = None
    llm_gguf: Annotated[Path | None, Env("PARLEY_LLM_GGUF")] = None
    piper_model: Annotated[Path | None, Env("PARLEY_PIPER_MODEL")] = None
    piper_config: Annotated[Path | None, Env("PARLEY_PIPER_CONFIG")] = None
    minilm_dir: Annotated[Path | None, Env("PARLEY_MINILM_DIR")] = None
    silero_vad: Annotated[Path | None, Env("PARLEY_SILERO_VAD")] = None
    e5_model: Annotated[Path | None, Env("PARLEY_E5_MODEL")] = None
    smart_turn: Annotated[Path | None, Env("PARLEY_SMART_TURN")] = None
    wheel_cache: Annotated[Path | None, Env("PARLEY_WHEEL_CACHE")] = None
    # --- the process ----------------------------------------------------------------------
    gc: Annotated[Literal["tuned", "default"], Env("PARLEY_GC")] = "tuned"
    gc_gen0: Annotated[int, Env("PARLEY_GC_GEN0")] = 20_000
    malloc_trim_s: Annotated[float, Env("PARLEY_MALLOC_TRIM_S")] = 15.0
    #: how much lower the model engines' CPU priority is (``nice`` steps)
    engine_nice: Annotated[int, Env("PARLEY_ENGINE_NICE")] = 5
    restart_backoff_min_s: Annotated[float, Env("PARLEY_RESTART_BACKOFF_MIN_S")] = 0.5
    restart_backoff_max_s: Annotated[float, Env("PARLEY_RESTART_BACKOFF_MAX_S")] = 30.0
    restart_stable_after_s: Annotated[float, Env("PARLEY_RESTART_STABLE_AFTER_S")] = 60.0
    restart_crash_loop_limit: Annotated[int, Env("PARLEY_RESTART_CRASH_LOOP_LIMIT")] = 5
    restart_crash_loop_cooldown_s: Annotated[float, Env("PARLEY_RESTART_CRASH_LOOP_COOLDOWN_S")] = (
        300.0
    )
    restart_stop_grace_s: Annotated[float, Env("PARLEY_RESTART_STOP_GRACE_S")] = 30.0
    # --- the deterministic test backend only ----------------------------------------------
    #: the deterministic LLM spends this long on every job (fault tests kill it mid-job)
    deterministic_delay_ms: Annotated[int, Env("PARLEY_DETERMINISTIC_DELAY_MS")] = 0
    #: the deterministic TTS streams in real time (fault tests kill it mid-stream)
    deterministic_tts_realtime: Annotated[bool, Env("PARLEY_DETERMINISTIC_TTS_REALTIME")] = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """The settings of this process: ``env`` (default: the environment), then
        ``overrides``. Raises ValueError naming a variable with a bad value."""
        return settings.from_env(cls, os.environ if env is None else env, **overrides)

    def edge_limits(self) -> Limits:
        return Limits(
            owner_probe_s=max(0.5, self.owner_ttl / 2),
            allowed_origins=self.allowed_origins,
            max_connections=self.max_connections,
            max_connections_per_ip=self.max_connections_per_ip,
            sessions_per_ip_per_min=self.sessions_per_ip_per_min,
            start_timeout_s=self.start_timeout_s,
            idle_timeout_s=self.idle_timeout_s,
            allowed_hosts=self.allowed_hosts,
            session_token_s=self.session_token_hours * 3600,
        )

    def internal_port(self) -> int | None:
        """The internal port to bind (0: a free one), None for none."""
        if self.metrics_port is None:
            return self.port + 1 if self.port else 0
        return None if self.metrics_port < 0 else self.metrics_port

    def replay_limits(self) -> ReplayLimits:
        return ReplayLimits(ttl_s=self.replay_days * DAY, max_bytes=self.replay_max_mb << 20)

    def retention(self) -> Retention:
        return Retention(
            start_timeout_s=self.start_timeout_s,
            abandoned_s=self.retain_abandoned_days * DAY,
            finished_s=self.retain_finished_days * DAY,
        )

    def model_files(self) -> ModelFiles:
        """Where the engines' model files come from (:func:`actors.models.assets.configure`)."""
        from actors.models.assets import ModelFiles

        return ModelFiles(
            cache=self.model_cache,
            whisper_dir=self.whisper_dir,
            llm_gguf=self.llm_gguf,
            piper_model=self.piper_model,
            piper_config=self.piper_config,
            minilm_dir=self.minilm_dir,
            silero_vad=self.silero_vad,
            e5_model=self.e5_model,
            smart_turn=self.smart_turn,
            wheel_cache=self.wheel_cache,
        )

    def restart_policy(self) -> RestartPolicy:
        from parley.supervisor import RestartPolicy

        return RestartPolicy(
            backoff_min_s=self.restart_backoff_min_s,
            backoff_max_s=self.restart_backoff_max_s,
            stable_after_s=self.restart_stable_after_s,
            crash_loop_limit=self.restart_crash_loop_limit,
            crash_loop_cooldown_s=self.restart_crash_loop_cooldown_s,
            stop_grace_s=self.restart_stop_grace_s,
        )

    def describe(self, env: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
        """What ``parley config`` prints: (variable, effective value, where it came from),
        secrets masked (see :func:`parley.settings.describe`)."""
        return settings.describe(self, os.environ if env is None else env)

    def validate(self) -> None:
        unknown = set(self.roles) - set(ALL_ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; choose from {ALL_ROLES}")
        if not self.roles:
            raise ValueError("no roles to run")


def load_secret(cfg: Config) -> bytes:
    """The HMAC secret for session tokens: ``PARLEY_SECRET``, or one generated once and kept
    in ``<data dir>/secret`` (mode 0600) so tokens survive restarts. Every edge node of a
    deployment must share it."""
    if cfg.secret:
        return cfg.secret.encode()
    path = cfg.data_dir / "secret"
    if path.exists():
        return path.read_bytes().strip()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(value)
    return value
