"""Node configuration, from the environment and the command line.

Every setting has an environment variable (``PARLEY_*``, plus ``NATS_URL`` and
``DATABASE_URL``); ``parley up`` flags override them. When ``NATS_URL`` /
``DATABASE_URL`` are set nothing embedded starts: that is how a deployment runs against a
NATS cluster and a managed Postgres.
"""

from __future__ import annotations

__all__ = ["ALL_ROLES", "MODEL_ROLES", "Config", "load_secret"]

import os
import secrets
import socket
from pathlib import Path
from typing import Literal

import msgspec

from bus.provision import ReplayLimits
from edge.limits import Limits
from persistence.retention import DAY, Retention

ALL_ROLES: tuple[str, ...] = ("edge", "session", "stt", "llm", "tts", "embed")
MODEL_ROLES: tuple[str, ...] = ("stt", "llm", "tts", "embed")

REPO = Path(__file__).resolve().parents[1]


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


class Config(msgspec.Struct, kw_only=True):
    data_dir: Path = Path(_env("PARLEY_DATA_DIR", str(REPO / "data")))
    nats_url: str = _env("NATS_URL", "")
    #: a credentials file of :mod:`bus.auth` (JSON, user -> password): the process connects
    #: as the user of its roles and provisions as ``admin`` when the file has it
    nats_credentials: str = _env("PARLEY_NATS_CREDENTIALS", "")
    #: create/update the streams at start ("0": only look them up; ``parley up``'s
    #: children, provisioned by the supervisor)
    nats_provision: bool = _env("PARLEY_NATS_PROVISION", "1") != "0"
    database_url: str = _env("DATABASE_URL", "")
    host: str = _env("PARLEY_HOST", "127.0.0.1")
    port: int = int(_env("PARLEY_PORT", "8080"))
    nats_port: int = int(_env("PARLEY_NATS_PORT", "4222"))
    #: the embedded nats-server's monitoring port (loopback); unset: no monitoring
    nats_monitor_port: int | None = (
        int(os.environ["PARLEY_NATS_MONITOR_PORT"])
        if os.environ.get("PARLEY_NATS_MONITOR_PORT")
        else None
    )
    pg_port: int = int(_env("PARLEY_PG_PORT", "5433"))
    roles: tuple[str, ...] = tuple(
        r for r in _env("PARLEY_ROLES", ",".join(ALL_ROLES)).split(",") if r
    )
    models: Literal["real", "deterministic"] = (
        "deterministic" if _env("PARLEY_MODELS", "real") == "deterministic" else "real"
    )
    embedder: Literal["e5", "minilm"] = (
        "minilm" if _env("PARLEY_EMBEDDER", "e5") == "minilm" else "e5"
    )
    node_id: str = _env("PARLEY_NODE_ID", f"{socket.gethostname()}-{os.getpid()}")
    secret: str = _env("PARLEY_SECRET", "")
    owner_ttl: float = float(_env("PARLEY_OWNER_TTL", "5"))
    nats_replicas: int = int(_env("PARLEY_NATS_REPLICAS", "1"))
    max_sessions: int = int(_env("PARLEY_MAX_SESSIONS", "2000"))
    #: with no résumé/posting, the LLM writes the main questions instead of the role's bank
    #: (slower and less on-role with the 1.5B model; the fault tests use it to have an LLM
    #: job in flight from the first question)
    llm_unplanned_questions: bool = _env("PARLEY_LLM_UNPLANNED_QUESTIONS", "0") == "1"
    #: languages in which the LLM phrases planned questions and follow-ups (the templates
    #: do the others: the 1.5B model's Korean questions were often ungrammatical); give a
    #: stronger remote model "en,ko"
    llm_phrasing: str = _env("PARLEY_LLM_PHRASING", "en")
    #: the LLM also phrases behaviour questions and their follow-ups (a stronger model)
    llm_behaviour: bool = _env("PARLEY_LLM_BEHAVIOUR", "0") == "1"
    #: llama.cpp threads. One by default: its thread pool spins at a barrier after every
    #: graph node, so two threads on two cores shared with STT/TTS/the session ran 3-5x
    #: slower than one (``parley bench models --only llm-threads``, docs/scaling.md)
    llm_threads: int = int(_env("PARLEY_LLM_THREADS", "1"))
    stt_threads: int = int(_env("PARLEY_STT_THREADS", "2"))
    # --- edge admission (docs/operating.md, Security); 0 = no limit ---------------------
    #: browser origins allowed besides the page's own, comma-separated
    allowed_origins: tuple[str, ...] = tuple(
        o.strip() for o in _env("PARLEY_ALLOWED_ORIGINS", "").split(",") if o.strip()
    )
    max_connections: int = int(_env("PARLEY_MAX_CONNECTIONS", "2000"))
    max_connections_per_ip: int = int(_env("PARLEY_MAX_CONNECTIONS_PER_IP", "32"))
    sessions_per_ip_per_min: int = int(_env("PARLEY_SESSIONS_PER_IP_PER_MIN", "30"))
    start_timeout_s: float = float(_env("PARLEY_START_TIMEOUT_S", "30"))
    #: a started session whose client sent no audio or answer this long is closed
    idle_timeout_s: float = float(_env("PARLEY_IDLE_TIMEOUT_S", "600"))
    #: the internal port (loopback): /healthz, /readyz, /metrics; 0: a free one; -1: none;
    #: unset: the page's port + 1 (a free one when the page's port is 0)
    metrics_port: int | None = (
        int(os.environ["PARLEY_METRICS_PORT"]) if os.environ.get("PARLEY_METRICS_PORT") else None
    )
    #: host names the page is served under besides IP literals and localhost
    allowed_hosts: tuple[str, ...] = tuple(
        h.strip() for h in _env("PARLEY_ALLOWED_HOSTS", "").split(",") if h.strip()
    )
    #: lifetime of a session token in hours (renewed on every resume)
    session_token_hours: float = float(_env("PARLEY_SESSION_TOKEN_HOURS", "12"))
    # --- retention of sessions in Postgres ----------------------------------------------
    retain_finished_days: float = float(_env("PARLEY_RETAIN_FINISHED_DAYS", "30"))
    retain_abandoned_days: float = float(_env("PARLEY_RETAIN_ABANDONED_DAYS", "7"))
    #: each spoken answer's audio, for replay: kept this long, this much at most in all
    replay_days: float = float(_env("PARLEY_REPLAY_DAYS", "7"))
    replay_max_mb: int = int(_env("PARLEY_REPLAY_MAX_MB", "1024"))

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
