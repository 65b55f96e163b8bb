"""Compose roles into one running process: the NATS connection and JetStream layout, the
Postgres pool, the session role, the model actors and the edge, against the servers named
by ``NATS_URL`` / ``DATABASE_URL``. :class:`Node` is what ``parley node`` runs (each child
of the ``parley up`` supervisor is one) and what the end-to-end tests start in-process."""

from __future__ import annotations

__all__ = ["Node"]

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import asyncpg
import nats.micro
from nats.aio.client import Client

from actors.bank import load_bank
from actors.models import assets, registry
from actors.models.cpuinfo import engine_cpu_line
from actors.models.remote.config import RemoteConfig, SpeechConfig
from actors.models.service import (
    EmbedActor,
    LlmActor,
    ModelActor,
    RemoteLlmActor,
    SttActor,
    TtsActor,
)
from actors.session.config import CoreConfig
from actors.session.node import SessionNode
from bus.auth import ADMIN, Credentials, connection_groups
from bus.connection import connect
from bus.provision import attach_audio, attach_owners, attach_replay, provision_as
from edge.server import Edge
from parley.config import MODEL_ROLES, Config, load_secret
from persistence.migrate import migrate
from persistence.pool import create_pool

log = logging.getLogger(__name__)


def build_model_actors(cfg: Config, nc: Client, pool: asyncpg.Pool, audio: Any) -> list[ModelActor]:
    """The model actors for the roles in ``cfg``, on real engines unless
    ``cfg.models == "deterministic"`` (the named test backend); the LLM or STT on an
    inference server when ``cfg`` names one."""
    opts = engine_options(cfg)
    real = cfg.models == "real"
    actors: list[ModelActor] = []
    if "stt" in cfg.roles:
        stt_opts = replace(opts, stt_remote=remote_engine(cfg, "stt") if real else None)
        actors.append(SttActor(nc, registry.build_stt(cfg.models, stt_opts)))
    if "llm" in cfg.roles:
        llm_opts = replace(opts, llm_remote=remote_engine(cfg, "llm") if real else None)
        remote = registry.build_remote_llm(llm_opts)
        if remote is not None:
            actors.append(RemoteLlmActor(nc, remote))
        else:
            actors.append(LlmActor(nc, registry.build_llm(cfg.models, opts)))
    if "tts" in cfg.roles:
        tts_opts = replace(opts, tts_remote=remote_voice(cfg) if real else None)
        actors.append(TtsActor(nc, registry.build_tts(cfg.models, tts_opts), audio))
    if "embed" in cfg.roles:
        bank = [(q.language, q.role, q.text) for q in load_bank()]
        actors.append(EmbedActor(nc, registry.build_embedder(cfg.models, opts), pool, bank=bank))
    return actors


def engine_options(cfg: Config) -> registry.EngineOptions:
    """The engines' options from the process's settings."""
    defaults = registry.EngineOptions()
    return registry.EngineOptions(
        embedder=cfg.embedder,
        threads=cfg.stt_threads,
        llm_threads=cfg.llm_threads,
        stt_beam_size=max(1, cfg.stt_beam),
        stt_window_s=min(30.0, max(1.0, cfg.stt_window_s)),
        stt_device=cfg.stt_device,
        llm_gpu_layers=cfg.llm_gpu_layers,
        tts_voices=registry.parse_voices(cfg.tts_voices) if cfg.tts_voices else defaults.tts_voices,
        deterministic_delay_ms=max(0, cfg.deterministic_delay_ms),
        deterministic_tts_realtime=cfg.deterministic_tts_realtime,
        end_of_turn=cfg.end_of_turn,
        llm_state_mb=max(0, cfg.llm_state_mb),
        llm_state_dir=cfg.llm_state_dir,
    )


def remote_voice(cfg: Config) -> SpeechConfig | None:
    """The speech server of the interviewer's voice (``PARLEY_TTS_*``), or None: the
    embedded voices only."""
    return SpeechConfig.create(
        cfg.tts_url,
        voices={"ko": cfg.tts_voice_ko, "en": cfg.tts_voice_en},
        model=cfg.tts_model,
        api_key=cfg.tts_api_key,
        api_key_file=cfg.tts_api_key_file,
        concurrency=cfg.tts_concurrency,
        connect_timeout_s=cfg.tts_connect_timeout_s,
        response_format=cfg.tts_format,
        pcm_rate=cfg.tts_pcm_rate,
        first_audio_s=cfg.tts_first_audio_s,
        read_timeout_s=cfg.tts_read_timeout_s,
    )


def remote_engine(cfg: Config, kind: Literal["llm", "stt"]) -> RemoteConfig | None:
    """The inference server of ``kind`` (``PARLEY_LLM_*`` / ``PARLEY_STT_*``), or None:
    the engine is embedded."""

    def setting(name: str) -> Any:
        return getattr(cfg, f"{kind}_{name}")

    return RemoteConfig.create(
        setting("url"),
        what=f"PARLEY_{kind.upper()}",
        model=setting("model"),
        api_key=setting("api_key"),
        api_key_file=setting("api_key_file"),
        concurrency=setting("concurrency"),
        structured=cfg.llm_structured if kind == "llm" else "auto",
        connect_timeout_s=setting("connect_timeout_s"),
        start_timeout_s=setting("start_timeout_s"),
    )


def nats_urls(cfg: Config) -> tuple[list[tuple[tuple[str, ...], str]], str | None]:
    """(the connections this process opens: (roles of the group, URL), the URL to
    provision with or None).

    One connection per role group (:func:`bus.auth.connection_groups`: the edge, the
    session role, the model roles), so each holds only its own role's rights even when
    they share a process. With ``cfg.nats_credentials`` each connects as its group's
    user and provisioning uses ``admin`` if the file has it; otherwise every connection
    uses ``NATS_URL`` as given (credentials in it, or none). ``cfg.nats_provision``
    false: never provision, only look up."""
    url = cfg.nats_url
    groups = connection_groups(cfg.roles)
    if cfg.nats_credentials:
        creds = Credentials.load(Path(cfg.nats_credentials))
        admin = creds.url(url, ADMIN) if creds.has(ADMIN) else None
        urls = [(roles, creds.url(url, user)) for roles, user in groups]
        return urls, admin if cfg.nats_provision else None
    return [(roles, url) for roles, _ in groups], url if cfg.nats_provision else None


class Node:
    """One Parley process. ``await start()``, then ``await stop()`` (drains sessions).
    ``core_config`` replaces the session core's defaults (tests and benchmarks)."""

    def __init__(self, cfg: Config, core_config: CoreConfig | None = None) -> None:
        cfg.validate()
        if not (cfg.nats_url and cfg.database_url):
            raise ValueError(
                "a node needs NATS_URL and DATABASE_URL; `parley up` starts "
                "embedded servers and the nodes for you"
            )
        self.cfg = cfg
        assets.configure(cfg.model_files())  # before any engine looks for its files
        self.core_config = core_config or CoreConfig(
            llm_unplanned_questions=cfg.llm_unplanned_questions,
            llm_phrasing=cfg.llm_phrasing,
            llm_questions=cfg.llm_questions,
            llm_behaviour=cfg.llm_behaviour,
        )
        #: one NATS connection per role group ("edge", "session", "models")
        self.conns: dict[str, Client] = {}
        self.pool: asyncpg.Pool | None = None
        self.sessions: SessionNode | None = None
        self.models: list[ModelActor] = []
        self.edge: Edge | None = None
        self._service: Any = None

    @property
    def nc(self) -> Client | None:
        """The first of this process's NATS connections (the edge's when it runs one)."""
        return next(iter(self.conns.values()), None)

    @property
    def nats_url(self) -> str:
        return self.cfg.nats_url

    @property
    def dsn(self) -> str:
        return self.cfg.database_url

    async def start(self) -> None:
        cfg = self.cfg
        await migrate(self.dsn)
        urls, admin_url = nats_urls(cfg)
        if admin_url is not None:
            await provision_as(
                admin_url,
                f"parley-provision-{cfg.node_id}",
                replicas=cfg.nats_replicas,
                owner_ttl=cfg.owner_ttl,
                replay=cfg.replay_limits(),
                tls_ca=cfg.nats_ca,
            )
        for roles, url in urls:
            group = roles[0] if roles[0] in ("edge", "session") else "models"
            name = f"parley-{cfg.node_id}" + (f"-{group}" if len(urls) > 1 else "")
            self.conns[group] = await connect(url, name, tls_ca=cfg.nats_ca)
        owners: Any = None
        audio: Any = None
        if "session" in self.conns:
            owners = await attach_owners(self.conns["session"].jetstream())
        if "tts" in cfg.roles:
            audio = await attach_audio(self.conns["models"].jetstream())
        self.pool = await create_pool(self.dsn)
        if "session" in cfg.roles:
            snc = self.conns["session"]
            self.sessions = SessionNode(
                snc,
                self.pool,
                owners,
                node_id=cfg.node_id,
                new_vad=registry.build_vad(cfg.models, engine_options(self.cfg)),
                owner_ttl=cfg.owner_ttl,
                max_sessions=cfg.max_sessions,
                retention=cfg.retention(),
                replay=await attach_replay(snc.jetstream()),
                core_config=self.core_config,
            )
            await self.sessions.start()
            sessions = self.sessions
            self._service = await nats.micro.add_service(
                snc,
                name="parley-session",
                version="0.1.0",
                description="Parley session actors",
                metadata={"node": cfg.node_id},
                stats_handler=lambda _ep: sessions.stats(),
            )
            await self._service.add_endpoint(
                name="status",
                subject=f"parley.session.{cfg.node_id}.status",
                handler=self._session_status,
            )
        if "edge" in cfg.roles:
            enc = self.conns["edge"]
            self.edge = Edge(
                enc,
                self.pool,
                load_secret(cfg),
                host=cfg.host,
                port=cfg.port,
                replay=await attach_replay(enc.jetstream()),
                limits=cfg.edge_limits(),
                metrics_port=cfg.internal_port(),
                required_services=tuple(s for s in ("session", *MODEL_ROLES)),
                warming_poll_s=cfg.warming_poll_s,
            )
            await self.edge.start()
            print(f"parley page  {self.edge.url}/", flush=True)
            if self.edge.metrics_port is not None:
                print(
                    f"internal     http://{self.edge.metrics_host}:{self.edge.metrics_port}"
                    " (/healthz, /readyz, /metrics)",
                    flush=True,
                )
        if "models" in self.conns:
            self.models = build_model_actors(cfg, self.conns["models"], self.pool, audio)
        # Load models one after another: on two cores parallel loads only thrash.
        for actor in self.models:
            t = time.perf_counter()
            await actor.start()
            print(
                f"model {actor.kind:<6} ready ({actor.engine_name}, "
                f"{time.perf_counter() - t:.1f}s); "
                f"{engine_cpu_line(actor.kind, actor.engine_name, actor.device)}",
                flush=True,
            )

    async def _session_status(self, req: Any) -> None:
        import msgspec

        assert self.sessions is not None
        await req.respond(msgspec.json.encode(self.sessions.stats()))

    async def stop(self) -> None:
        """Drain: sessions hand over, workers finish or give back their jobs, servers stop."""
        if self.edge is not None:
            await self.edge.stop()
        if self.sessions is not None:
            await self.sessions.drain()
        for actor in self.models:
            with contextlib.suppress(Exception):
                await actor.stop()
        if self._service is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._service.stop(), 2.0)
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 10.0)
        for conn in self.conns.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.drain(), 5.0)
