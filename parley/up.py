"""``parley up``: embedded servers (when no URLs are given), then the supervisor with one
process per role group (see :mod:`parley.supervisor`), its state as a NATS micro service.

This process loads no model and runs no session: it only starts, watches and stops.

NATS credentials (see :mod:`bus.auth`): the embedded nats-server runs with auth on; with
``NATS_URL`` given, ``PARLEY_NATS_CREDENTIALS`` names the credentials file of that
deployment. Either way the supervisor provisions the streams as ``admin`` (a connection
held only for that), connects its own micro service as ``supervisor``, and hands each
child a credentials file of its own (0600, under ``<data dir>/run``) with the passwords of
its role groups only: the ``edge,session`` child gets the ``edge`` and ``session`` users
and opens one connection as each, never ``admin``. Without credentials every process
uses ``NATS_URL`` as given and provisions itself, as before.
"""

from __future__ import annotations

__all__ = ["readiness_note", "run_up"]

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

import msgspec
import nats.micro

from actors.models.cpuinfo import host_cpu_line
from bus.auth import ADMIN, SUPERVISOR, Credentials, connection_groups, mask_url
from bus.connection import connect
from bus.embedded import EmbeddedNats
from bus.provision import provision_as
from parley.config import REPO, Config
from parley.supervisor import ChildSpec, ChildState, Supervisor, child_argv, child_specs
from persistence.embedded import EmbeddedPostgres
from persistence.migrate import migrate

log = logging.getLogger(__name__)


def child_env(
    cfg: Config,
    nats_url: str,
    dsn: str,
    creds: Credentials | None = None,
    spec: ChildSpec | None = None,
) -> dict[str, str]:
    """The environment of a child: this one, plus the servers and the flags given to
    ``parley up`` (children read them through :class:`Config`). With ``creds`` the child
    gets a credentials file with the users of ``spec``'s role groups only, and does not
    provision (the supervisor did, as admin)."""
    env = dict(os.environ)
    env.pop("PARLEY_NATS_CREDENTIALS", None)
    if creds is not None:
        assert spec is not None
        users = [user for _roles, user in connection_groups(spec.roles)]
        run = cfg.data_dir / "run"
        run.mkdir(parents=True, exist_ok=True)
        run.chmod(0o700)
        part = creds.subset(users, run / f"nats-{spec.name.replace(',', '-')}.json")
        env["PARLEY_NATS_CREDENTIALS"] = str(part.path)
        env["PARLEY_NATS_PROVISION"] = "0"
    env.update(
        {
            "NATS_URL": nats_url,
            "DATABASE_URL": dsn,
            "PARLEY_DATA_DIR": str(cfg.data_dir),
            "PARLEY_HOST": cfg.host,
            "PARLEY_PORT": str(cfg.port),
            "PARLEY_MODELS": cfg.models,
            "PARLEY_EMBEDDER": cfg.embedder,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


#: What interviews get from a role while it serves, and what they get instead while not.
_WITH = {
    "llm": "model-made questions and scores",
    "stt": "their spoken answers transcribed",
    "tts": "the interviewer's voice",
    "embed": "résumé and posting retrieval",
}
_WITHOUT = {
    "llm": "bank questions and rule-estimated scores",
    "stt": "typed answers only",
    "tts": "questions as text, without a voice",
    "embed": "questions without résumé retrieval",
}


def _eta(state: ChildState) -> str:
    s = state.ready_in_s
    if s is None or state.state == "down":
        return "no estimate yet" if state.state == "starting" else "not known"
    return f"about {max(1, round(s))} s"


def readiness_note(changed: ChildState, states: list[ChildState]) -> str | None:
    """The line ``parley up`` prints when a child became ready or exited, saying what
    interviews get now (None: nothing worth a line). The LLM is named at every change:
    whether questions and scores are the model's is what an operator watches for."""
    name = changed.name
    if changed.state == "ready" and name in _WITH:
        if changed.starts == 1 and name != "llm":
            return None  # its own "model ... ready" line says it
        again = "" if changed.starts == 1 else " again"
        return (
            f"{name} ready{again} {changed.last_ready_s:.1f} s after its start: "
            f"interviews get {_WITH[name]}{again}"
        )
    if changed.state in ("backoff", "down") and name in _WITHOUT:
        return (
            f"{name} is down ({changed.last_exit}): interviews get {_WITHOUT[name]} "
            f"until it is back (ready in {_eta(changed)})"
        )
    if changed.state == "ready" and "edge" in name.split(","):
        llm = next((s for s in states if s.name == "llm"), None)
        if llm is not None and llm.state != "ready":
            return (
                f"interviews can start now; until the llm is ready ({_eta(llm)}) they get "
                f"{_WITHOUT['llm']}"
            )
    return None


def _stats(sup: Supervisor, node_id: str) -> dict[str, Any]:
    states = sup.states()
    data: dict[str, Any] = {
        "node": node_id,
        "roles_down": sum(s.state == "down" for s in states),
        "roles_not_ready": sum(s.state != "ready" for s in states),
        "roles": {s.name: msgspec.to_builtins(s) for s in states},
    }
    for s in states:
        data[f"restarts_{s.name.replace(',', '_')}"] = s.restarts
    return data


async def _serve(cfg: Config, nats_url: str, dsn: str, creds: Credentials | None) -> None:
    specs: list[ChildSpec] = child_specs(cfg.roles, cfg.engine_nice)
    own_url = nats_url
    if creds is not None:
        if creds.has(ADMIN):
            await provision_as(
                creds.url(nats_url, ADMIN),
                f"parley-provision-{cfg.node_id}",
                replicas=cfg.nats_replicas,
                owner_ttl=cfg.owner_ttl,
                tls_ca=cfg.nats_ca,
            )
        own_url = creds.url(nats_url, SUPERVISOR)

    def note(changed: ChildState) -> None:
        line = readiness_note(changed, sup.states())
        if line:
            print(line, flush=True)

    sup = Supervisor(
        specs,
        lambda s: child_argv(s, ["--node-id", f"{cfg.node_id}-{s.name.replace(',', '-')}"]),
        lambda s: child_env(cfg, nats_url, dsn, creds, s),
        cfg.restart_policy(),
        on_change=note,
    )
    nc = await connect(own_url, f"parley-supervisor-{cfg.node_id}", tls_ca=cfg.nats_ca)
    service = await nats.micro.add_service(
        nc,
        name="parley-supervisor",
        version="0.1.0",
        description="Parley process supervisor: one process per role group",
        metadata={"node": cfg.node_id},
        stats_handler=lambda _ep: _stats(sup, cfg.node_id),
    )

    async def status(req: Any) -> None:
        await req.respond(msgspec.json.encode(_stats(sup, cfg.node_id)))

    await service.add_endpoint(
        name="status", subject=f"parley.supervisor.{cfg.node_id}.status", handler=status
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sup.start()
        print(
            f"supervisor: starting {', '.join(s.name for s in specs)} "
            "(one process each; the first start loads the models)",
            flush=True,
        )

        async def announce() -> None:
            if await sup.wait_ready(3600):
                print(f"parley is up (roles: {', '.join(cfg.roles)}); Ctrl-C stops", flush=True)

        announcer = asyncio.create_task(announce())
        await stop.wait()
        announcer.cancel()
        print("stopping ...", flush=True)
    finally:
        await sup.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(service.stop(), 2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.drain(), 5.0)


def run_up(cfg: Config) -> None:
    """Start the embedded servers this node needs (in the main thread, so they die with
    it), migrate, supervise the children until SIGINT/SIGTERM, then stop in order."""
    cfg.validate()
    cpu = host_cpu_line()
    print(f"cpu          {cpu}", flush=True)
    if "BELOW BASELINE" in cpu:
        log.warning(
            "this CPU lacks what the llama.cpp build needs: the llm role will fail "
            "to start and be marked down; the rest of the node serves"
        )
    nats_srv: EmbeddedNats | None = None
    pg: EmbeddedPostgres | None = None
    creds: Credentials | None = None
    try:
        nats_url = cfg.nats_url
        if cfg.nats_credentials:
            creds = Credentials.load(Path(cfg.nats_credentials))
        if not nats_url:
            nats_srv = EmbeddedNats(
                cfg.data_dir / "nats",
                port=cfg.nats_port,
                monitor_port=cfg.nats_monitor_port,
                config=REPO / "nats.conf",
                tls_cert=cfg.nats_tls_cert,
                tls_key=cfg.nats_tls_key,
                binary=cfg.nats_server,
            )
            nats_srv.start()
            nats_url = nats_srv.url
            creds = nats_srv.credentials
            assert creds is not None
            monitoring = nats_srv.monitor_url or "off"
            print(
                f"nats-server  {nats_url}  (monitoring {monitoring}; "
                f"auth on, credentials in {creds.path})",
                flush=True,
            )
        else:
            print(
                f"nats         {mask_url(nats_url)}"
                + (f"  (credentials from {creds.path})" if creds else ""),
                flush=True,
            )
        dsn = cfg.database_url
        if not dsn:
            pg = EmbeddedPostgres(
                cfg.data_dir / "postgres",
                port=cfg.pg_port,
                bin_dir=cfg.pg_bin,
                shared_root=cfg.pg_shared,
            )
            pg.start()
            dsn = pg.dsn
            print(f"postgres     {mask_url(dsn)}", flush=True)
        asyncio.run(migrate(dsn))
        asyncio.run(_serve(cfg, nats_url, dsn, creds))
    finally:
        if pg is not None:
            pg.stop()
        if nats_srv is not None:
            nats_srv.stop()
        print("stopped", flush=True)
