"""Real processes for the chaos tests: ``parley up`` nodes, nats-servers (one or a cluster)
and Postgres, each started on loopback and each killed in the end, whatever happened.

Every wait here is bounded; :meth:`Fleet.close` SIGKILLs every process the fleet started.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from nats.aio.client import Client as Nats

from actors.session.snapshot import decode_stored_state
from actors.session.state import SessionState
from bus import jobs, subjects
from bus.auth import ADMIN
from bus.connection import connect
from bus.embedded import EmbeddedNats, free_port
from parley.client import Client
from parley.config import REPO
from persistence import snapshots
from tests.conftest import TIME

SECRET = "chaos-secret"
TTL = 2.0
ANSWER = (
    "I led the migration of our payments API to an event-driven design, which cut "
    "p99 latency by forty percent in three months."
)


@dataclass
class Proc:
    """One ``parley up`` child (its own process group, output in ``log``)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    #: wall time (``time.time()``) by which a :meth:`kill` had the process dead
    killed_at: float | None = None
    #: what the process prints once it serves
    ready_line: str = "parley is up"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group (kill -9: nothing is flushed or released)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        if self.killed_at is None and self.popen.poll() is not None:
            self.killed_at = time.time()

    async def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM (a drain) and wait, bounded, for the exit: (exit code, seconds taken).
        Raises TimeoutError (after a SIGKILL) when it does not exit in time."""
        t0 = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        end = t0 + timeout * TIME
        while self.popen.poll() is None:
            if time.monotonic() > end:
                self.kill()
                raise TimeoutError(f"{self.name} still running {timeout}s after SIGTERM")
            await asyncio.sleep(0.05)
        return self.popen.returncode, time.monotonic() - t0

    async def ready(self, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout * TIME
        while self.ready_line not in self.output():
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.output()[-3000:]}")
            if time.monotonic() > end:
                raise TimeoutError(f"{self.name} not up in {timeout}s:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.05)


@dataclass
class Fleet:
    """The ``parley up`` processes of one test, against ``nats_url`` and ``dsn``."""

    root: Path
    nats_url: str
    dsn: str
    env: dict[str, str] = field(default_factory=dict)
    #: the NATS credentials file: each process connects as the user of its roles
    #: (``PARLEY_NATS_CREDENTIALS``), a supervisor hands its children theirs
    nats_credentials: str = ""
    procs: list[Proc] = field(default_factory=list)

    def start(
        self,
        name: str,
        roles: str,
        *,
        env: dict[str, str] | None = None,
        supervised: bool = False,
        models: str = "deterministic",
    ) -> Proc:
        """``parley node --role <roles>`` (one process), or with ``supervised`` the
        ``parley up --role <roles>`` supervisor with one child per role group."""
        port = free_port() if "edge" in roles.split(",") else 0
        data = self.root / name
        data.mkdir(parents=True, exist_ok=True)
        full_env = {
            **os.environ,
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.dsn,
            "PARLEY_SECRET": SECRET,
            "PARLEY_OWNER_TTL": str(TTL),
            # every client of these tests comes from 127.0.0.1: no per-address limits
            "PARLEY_MAX_CONNECTIONS_PER_IP": "0",
            "PARLEY_SESSIONS_PER_IP_PER_MIN": "0",
            "PARLEY_DATA_DIR": str(data),
            "PYTHONUNBUFFERED": "1",
            # the first question from the LLM, as these tests kill LLM workers mid-job
            "PARLEY_LLM_UNPLANNED_QUESTIONS": "1",
            **({"PARLEY_NATS_CREDENTIALS": self.nats_credentials} if self.nats_credentials else {}),
            **self.env,
            **(env or {}),
        }
        cmd = [
            sys.executable,
            "-m",
            "parley.cli",
            "up" if supervised else "node",
            "--role",
            roles,
            "--models",
            models,
            "--node-id",
            name,
            "--host",
            "127.0.0.1",
            "--port",
            str(port or free_port()),
        ]
        log = self.root / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log, port)
        if supervised:
            proc.ready_line = f"parley is up (roles: {', '.join(roles.split(','))})"
        self.procs.append(proc)
        return proc

    def edge_url(self, proc: Proc) -> str:
        return f"ws://127.0.0.1:{proc.port}/ws"

    def close(self) -> None:
        for p in self.procs:
            p.kill()

    def logs(self) -> str:
        return "\n".join(f"===== {p.name}\n{p.output()[-4000:]}" for p in self.procs)

    def activations(self) -> list[Activation]:
        """Every session activation in the nodes' logs, from its "active on" line to its
        "stopped on" line, or to the kill of its process, or open (still live)."""
        by_log: dict[Path, list[Proc]] = {}
        for p in self.procs:
            by_log.setdefault(p.log, []).append(p)
        out: list[Activation] = []
        for procs in by_log.values():
            deaths = sorted(p.killed_at for p in procs if p.killed_at is not None)
            out.extend(_activations_in(procs[0].output(), deaths))
        return out


def _activations_in(log: str, deaths: list[float]) -> list[Activation]:
    """The activations of one log; ``deaths`` are the times its process was killed."""
    out: list[Activation] = []
    live: dict[str, Activation] = {}

    def close_dead(before: float) -> None:
        for sid, a in list(live.items()):
            dead = next((d for d in deaths if a.start <= d <= before), None)
            if dead is not None:
                a.end, a.how = dead, "killed"
                del live[sid]

    for t, sid, what, node, how in _activation_lines(log):
        close_dead(t)
        if what == "active":
            live[sid] = Activation(sid, node, t)
            out.append(live[sid])
        elif sid in live:
            live[sid].end, live[sid].how = t, how
            del live[sid]
    close_dead(float("inf"))
    return out


@dataclass
class Activation:
    """One session live on one node from ``start`` to ``end`` (wall time)."""

    sid: str
    node: str
    start: float
    end: float = float("inf")
    how: str = "live"


_ACTIVATION_LINE = re.compile(
    r"^(?:\[[^\]]*\] )?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: "
    r"session (\S+) (active|stopped) on (\S+)(?: \(([^)]*)\))?",
    re.M,
)


def _activation_lines(text: str) -> Iterator[tuple[float, str, str, str, str]]:
    for m in _ACTIVATION_LINE.finditer(text):
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        yield t, m.group(2), m.group(3), m.group(4), m.group(5) or ""


def assert_one_activation_at_a_time(fleet: Fleet, *, at_least: int = 1) -> list[Activation]:
    """No session was ever live on two nodes at once: across every node's log, each
    activation of a session starts after the previous one ended (stopped, or its process
    killed). Returns the activations checked (at least ``at_least``)."""
    acts = fleet.activations()
    assert len(acts) >= at_least, f"{len(acts)} activations in the logs"
    by_sid: dict[str, list[Activation]] = {}
    for a in acts:
        by_sid.setdefault(a.sid, []).append(a)
    overlaps: list[str] = []
    for sid, seq in by_sid.items():
        seq.sort(key=lambda a: a.start)
        for prev, nxt in itertools.pairwise(seq):
            if nxt.start < prev.end:
                overlaps.append(
                    f"{sid}: {prev.node} ({prev.how}, until {prev.end:.3f}) "
                    f"still live when {nxt.node} activated it at {nxt.start:.3f}"
                )
    assert not overlaps, "two live activations:\n" + "\n".join(overlaps)
    return acts


class NatsCluster:
    """Three nats-servers with JetStream in one cluster on loopback (see
    ``nats-cluster.conf.example``)."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.client_ports = [free_port() for _ in range(size)]
        self.route_ports = [free_port() for _ in range(size)]
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.route_ports)
        self.servers: list[EmbeddedNats] = []
        for i in range(size):
            conf = root / f"n{i + 1}.conf"
            conf.write_text(
                f"server_name: n{i + 1}\n"
                "max_payload: 2MB\n"
                "jetstream { max_memory_store: 256MB, max_file_store: 8GB }\n"
                "cluster {\n"
                "  name: parley\n"
                f"  listen: 127.0.0.1:{self.route_ports[i]}\n"
                f"  routes: [{routes}]\n"
                "}\n"
            )
            self.servers.append(
                EmbeddedNats(
                    root / f"n{i + 1}" / "js",
                    port=self.client_ports[i],
                    config=conf,
                    credentials=root / "nats-credentials.json",
                )
            )

    @property
    def url(self) -> str:
        """Every member's URL, with the ``admin`` credentials (the test's own view)."""
        return ",".join(s.url_for(ADMIN) for s in self.servers)

    @property
    def credentials(self) -> str:
        """The credentials file every member shares."""
        return str(self.root / "nats-credentials.json")

    def start(self) -> None:
        for s in self.servers:
            s.start()

    def stop(self) -> None:
        for s in self.servers:
            with contextlib.suppress(Exception):
                s.kill()


async def bus_client(url: str) -> Nats:
    return await connect(url, "chaos-observer")


async def owner_of(nc: Nats, sid: str) -> str:
    kv = await nc.jetstream().key_value(subjects.KV_OWNERS)
    entry = await asyncio.wait_for(kv.get(sid), 5)
    return (entry.value or b"").decode()


async def wait_until(cond: Any, timeout: float, what: str, step: float = 0.05) -> None:
    """Poll ``cond()`` (sync or async) until true; bounded by ``timeout`` (scaled)."""
    end = time.monotonic() + timeout * TIME
    while True:
        value = cond()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > end:
            raise TimeoutError(f"not within {timeout}s: {what}")
        await asyncio.sleep(step)


async def ready_everywhere(nc: Nats, services: tuple[str, ...], timeout: float = 30) -> None:
    """Wait until every named micro service answers a ping."""

    async def all_up() -> bool:
        for svc in services:
            try:
                await nc.request(f"$SRV.PING.parley-{svc}", b"", timeout=0.5)
            except Exception:
                return False
        return True

    await wait_until(all_up, timeout, f"services {services}", step=0.2)


def assert_clean_seqs(c: Client) -> None:
    """Strictly increasing by one at the client: no gap, no duplicate."""
    seqs = [e["seq"] for e in c.rx.events if e.get("seq")]
    assert seqs, "no events"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"seq gap or duplicate: {seqs}"


def assert_complete(report: dict[str, Any], questions: int) -> None:
    mains = [a for a in report["answers"] if a.get("kind", "main") == "main"]
    assert len(mains) >= questions or len(report["answers"]) >= questions, report
    assert all(a["answer"] for a in report["answers"]), report
    assert {"relevance", "depth", "clarity", "role_fit"} <= set(report["scores"])


async def results_of(nc: Nats, sid: str) -> list[tuple[str, jobs.Result]]:
    """Every job result stored for ``sid`` in the RESULTS stream: (message id, result)."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(subjects.session_result(sid), stream=subjects.STREAM_RESULTS)
    out: list[tuple[str, jobs.Result]] = []
    try:
        for _ in range(100):
            try:
                msgs = await sub.fetch(256, timeout=1.0)
            except Exception:
                break
            for m in msgs:
                out.append(
                    ((m.headers or {}).get(subjects.HDR_MSG_ID, ""), jobs.decode_result(m.data))
                )
                await m.ack()
    finally:
        await sub.unsubscribe()
    return out


async def llm_stats(nc: Nats) -> dict[str, Any]:
    """The stats of the one live ``parley-llm`` actor."""
    msg = await nc.request("$SRV.STATS.parley-llm", b"", timeout=2.0)
    data: dict[str, Any] = decode(msg.data)["endpoints"][0]["data"]
    return data


async def finished_state(dsn: str, sid: str, timeout: float = 30) -> SessionState:
    """The session's last snapshot once it is finished (waits, bounded), decoded."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        row: snapshots.SessionRow | None = None

        async def finished() -> bool:
            nonlocal row
            row = await snapshots.load_snapshot(pool, sid)
            return row is not None and row.status == "finished"

        await wait_until(finished, timeout, f"a finished snapshot of {sid}", step=0.1)
        assert row is not None and row.snapshot is not None
        return decode_stored_state(row.snapshot)
    finally:
        await pool.close()


def timeline(c: Client) -> str:
    """The client's events, one a line, for a failure message."""
    t0 = c.rx.events[0]["_t"] if c.rx.events else 0.0
    return "\n".join(
        f"{e['_t'] - t0:7.2f} "
        + " ".join(f"{k}={v!r}"[:90] for k, v in e.items() if k not in ("_t", "report", "token"))
        for e in c.rx.events
    )


def decode(data: bytes) -> dict[str, Any]:
    value: dict[str, Any] = msgspec.json.decode(data)
    return value
