"""``parley bench load``: N WebSocket clients held open against one node.

Starts a fresh nats-server and Postgres on loopback and one ``parley up`` process with
every role and the deterministic models (a separate process, so its RSS and CPU are its
own), then opens N scripted clients (``parley.client.Client``: hello, answer every app-level
``ping`` with ``pong``) at ``--rate`` per second and holds them. Prints:

- connected sessions (ready and still open at the end);
- heartbeat lateness at the client: each app-level ``ping`` arrives ``ping_interval``
  (5 s) after the previous one; lateness = the gap minus 5 s, p50/p99/max over every pair;
- the node's RSS (idle, with N sessions, per session) and CPU while holding them;
- with ``--soak-seconds``: RSS sampled through the soak and its slope (least squares).

``--start`` also starts each interview (the greeting plays, then the first question waits
for an answer), which costs TTS jobs; without it the sessions sit attached and idle.

``--rotate K --soak-seconds S`` is the soak: K clients each run whole typed interviews
(connect, start, answer every question, wait for the report, close) one after another
for S seconds, so sessions are created, interviewed, reported and retired all along.
It prints interviews completed and failed, their duration, the node's RSS slope and
the sessions it still holds in memory at the end.

The clients run in this process on the same machine, so they share its cores.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import bench_servers, percentile
from bus.embedded import free_port
from parley.client import Client
from parley.config import REPO

PING_INTERVAL_S = 5.0


@dataclass
class NodeProc:
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    def rss_kb(self) -> int:
        try:
            with open(f"/proc/{self.popen.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def cpu_s(self) -> float:
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)


def _spawn(nats_url: str, dsn: str, root: Path, max_sessions: int) -> NodeProc:
    port = free_port()
    log = root / "node.log"
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "DATABASE_URL": dsn,
        "PARLEY_SECRET": "bench-load",
        "PARLEY_DATA_DIR": str(root / "node"),
        "PARLEY_MAX_SESSIONS": str(max_sessions),
        "PYTHONUNBUFFERED": "1",
        # every simulated client comes from 127.0.0.1: no per-address limits
        "PARLEY_MAX_CONNECTIONS_PER_IP": "0",
        "PARLEY_SESSIONS_PER_IP_PER_MIN": "0",
        "PARLEY_MAX_CONNECTIONS": "0",
    }
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parley.cli",
                "node",
                "--models",
                "deterministic",
                "--node-id",
                "load",
                "--port",
                str(port),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return NodeProc(popen, port, log)


async def _start_node(nats_url: str, dsn: str, root: Path, max_sessions: int) -> NodeProc:
    node = _spawn(nats_url, dsn, root, max_sessions)
    popen, log = node.popen, node.log
    end = time.monotonic() + 60
    while "parley is up" not in log.read_text(errors="replace"):
        if popen.poll() is not None or time.monotonic() > end:
            node.stop()
            raise RuntimeError(f"node did not start:\n{log.read_text(errors='replace')[-3000:]}")
        await asyncio.sleep(0.1)
    return node


async def _open(url: str, start: bool) -> Client | None:
    c = Client(url)
    try:
        await c.connect()
        if start:
            await c.send({"type": "start", "role": "backend", "language": "en", "questions": 3})
    except Exception:
        with contextlib.suppress(Exception):
            await c.close()
        return None
    return c


def _lateness_ms(clients: list[Client], since: float) -> list[float]:
    """Ping gaps minus the nominal interval, for pings that arrived after ``since``."""
    out: list[float] = []
    for c in clients:
        times = [e["_t"] for e in c.rx.of("ping") if e["_t"] >= since]
        out.extend((b - a - PING_INTERVAL_S) * 1000 for a, b in itertools.pairwise(times))
    return out


async def _loop_lag(out: list[float], period: float = 0.1) -> None:
    """How late this (the clients') event loop wakes up: lateness it adds to every ping."""
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(period)
        out.append((loop.time() - t - period) * 1000)


ROTATE_ANSWER = (
    "I would measure first, then cache the hot path and add an index; "
    "we cut p99 latency from 800 to 120 milliseconds that way."
)


@dataclass
class Rotation:
    """What the rotating clients did."""

    done: int = 0
    failed: int = 0
    durations: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def _rotate(url: str, until: float, questions: int, out: Rotation) -> None:
    """One client slot: whole interviews back to back until ``until``."""
    while time.monotonic() < until:
        c = Client(url)
        t0 = time.monotonic()
        try:
            await c.connect()
            await c.send(
                {"type": "start", "role": "backend", "language": "en", "questions": questions}
            )
            report = await c.typed_interview(ROTATE_ANSWER, timeout=180)
            if len(report.get("answers") or []) < questions:
                raise RuntimeError(f"report with {len(report.get('answers') or [])} answers")
            out.done += 1
            out.durations.append(time.monotonic() - t0)
            out.lateness.extend(_lateness_ms([c], 0.0))
        except Exception as exc:  # counted and shown; the soak goes on
            out.failed += 1
            if len(out.errors) < 5:
                out.errors.append(repr(exc)[:300])
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await c.close()


def _gc_pauses(log: Path) -> list[float]:
    """Full-collection pauses (ms) the node logged (it logs those over 20 ms)."""
    pauses = []
    for line in log.read_text(errors="replace").splitlines():
        if "gc: full collection" in line:
            with contextlib.suppress(ValueError, IndexError):
                pauses.append(float(line.split("gc: full collection ")[1].split()[0]))
    return pauses


def _held_sessions(port: int) -> str:
    """The node's session gauges from ``/metrics`` (what it holds in memory now)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError as exc:
        return f"(metrics unavailable: {exc})"
    wanted = (
        "parley_svc_parley_session_sessions",
        "parley_svc_parley_session_activations",
        "parley_ws_connections",
    )
    keep = [
        line.split("{")[0].split()[0].removeprefix("parley_svc_parley_") + " " + line.split()[-1]
        for line in text.splitlines()
        if line.startswith(wanted)
    ]
    return ", ".join(keep) or "(no session gauges)"


async def _run_rotation(a: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="parley-soak-"))
    result: dict[str, Any] = {"rotate": a.rotate, "soak_s": a.soak_seconds}
    with bench_servers() as (nats_url, dsn):
        node = await _start_node(nats_url, dsn, root, max(200, a.rotate * 2))
        try:
            await asyncio.sleep(2)
            url = f"ws://127.0.0.1:{node.port}/ws"
            rot = Rotation()
            s0 = time.monotonic()
            until = s0 + a.soak_seconds
            cpu0 = node.cpu_s()
            slots = []
            for _ in range(a.rotate):
                slots.append(asyncio.create_task(_rotate(url, until, a.questions, rot)))
                await asyncio.sleep(1.0 / a.rate)
            samples: list[tuple[float, int]] = []
            last_print = s0
            while time.monotonic() < until:
                samples.append((time.monotonic() - s0, node.rss_kb()))
                if time.monotonic() - last_print >= 60:
                    last_print = time.monotonic()
                    print(
                        f"{last_print - s0:6.0f} s: {rot.done} interviews done, "
                        f"{rot.failed} failed, RSS {samples[-1][1] / 1024:.1f} MiB",
                        flush=True,
                    )
                await asyncio.sleep(a.sample_seconds)
            await asyncio.gather(*slots)
            samples.append((time.monotonic() - s0, node.rss_kb()))
            wall = time.monotonic() - s0
            await asyncio.sleep(3)  # finished sessions deactivate
            d = rot.durations
            result.update(
                interviews=rot.done,
                failed=rot.failed,
                errors=rot.errors,
                interview_s_p50=round(percentile(d, 0.5), 1),
                interview_s_p99=round(percentile(d, 0.99), 1),
                interviews_per_min=round(rot.done / wall * 60, 1),
                lateness_ms_p99=round(percentile(rot.lateness, 0.99), 1),
                ping_gaps=len(rot.lateness),
                node_cpu_pct=round((node.cpu_s() - cpu0) / wall * 100, 1),
                soak_rss_start_mib=round(samples[0][1] / 1024, 1),
                soak_rss_end_mib=round(samples[-1][1] / 1024, 1),
                soak_rss_slope_kib_per_min=round(_slope_kb_per_min(samples), 1),
                soak_rss_slope_2nd_half_kib_per_min=round(
                    _slope_kb_per_min(samples[len(samples) // 2 :]), 1
                ),
                held_after=await asyncio.to_thread(_held_sessions, node.port),
                gc_pauses_ms=_gc_pauses(node.log),
            )
        finally:
            node.stop()
            shutil.rmtree(root, ignore_errors=True)
    return result


def _print_rotation(r: dict[str, Any]) -> None:
    print(
        f"soak {r['soak_s']:.0f} s, {r['rotate']} clients in rotation: "
        f"{r['interviews']} interviews completed, {r['failed']} failed "
        f"({r['interviews_per_min']} per minute; each p50 {r['interview_s_p50']} s, "
        f"p99 {r['interview_s_p99']} s); node CPU {r['node_cpu_pct']} % of one core"
    )
    for e in r["errors"]:
        print(f"  failure: {e}")
    print(
        f"heartbeat lateness at the client ({r['ping_gaps']} ping gaps): "
        f"p99 {r['lateness_ms_p99']} ms"
    )
    print(
        f"node RSS {r['soak_rss_start_mib']} -> {r['soak_rss_end_mib']} MiB, "
        f"slope {r['soak_rss_slope_kib_per_min']} KiB/min "
        f"(second half {r['soak_rss_slope_2nd_half_kib_per_min']} KiB/min)"
    )
    print(f"held by the node afterwards: {r['held_after']}")
    _print_gc(r)


def _print_gc(r: dict[str, Any]) -> None:
    pauses = r.get("gc_pauses_ms") or []
    print(
        f"housekeeping full collections over 20 ms: {len(pauses)}"
        + (f", longest {max(pauses):.0f} ms" if pauses else "")
    )


def _slope_kb_per_min(samples: list[tuple[float, int]]) -> float:
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mx = sum(t for t, _ in samples) / n
    my = sum(r for _, r in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    cov = sum((t - mx) * (r - my) for t, r in samples)
    return cov / var * 60 if var else 0.0


async def _run(a: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="parley-load-"))
    result: dict[str, Any] = {"clients": a.clients, "start": a.start}
    with bench_servers() as (nats_url, dsn):
        node = await _start_node(nats_url, dsn, root, max(2000, a.clients + 10))
        clients: list[Client] = []
        try:
            await asyncio.sleep(2)
            rss0 = node.rss_kb()
            url = f"ws://127.0.0.1:{node.port}/ws"
            t0 = time.monotonic()
            pending: list[asyncio.Task[Client | None]] = []
            for i in range(a.clients):
                pending.append(asyncio.create_task(_open(url, a.start)))
                await asyncio.sleep(max(0.0, t0 + (i + 1) / a.rate - time.monotonic()))
            opened = [c for c in await asyncio.gather(*pending) if c is not None]
            clients = opened
            ramp = time.monotonic() - t0
            print(f"{len(opened)}/{a.clients} sessions opened in {ramp:.1f} s", flush=True)
            held_from = time.monotonic() + PING_INTERVAL_S  # pings after the ramp settled
            cpu0, wall0 = node.cpu_s(), time.monotonic()
            own_lag: list[float] = []
            watch = asyncio.create_task(_loop_lag(own_lag))
            await asyncio.sleep(a.hold_seconds)
            watch.cancel()
            cpu = (node.cpu_s() - cpu0) / (time.monotonic() - wall0)
            rss1 = node.rss_kb()
            samples: list[tuple[float, int]] = []
            if a.soak_seconds:
                s0 = time.monotonic()
                while time.monotonic() - s0 < a.soak_seconds:
                    samples.append((time.monotonic() - s0, node.rss_kb()))
                    await asyncio.sleep(a.sample_seconds)
                samples.append((time.monotonic() - s0, node.rss_kb()))
            late = _lateness_ms(clients, held_from)
            connected = sum(1 for c in clients if c.closed is None)
            pings = sum(len(c.rx.of("ping")) for c in clients)
            result.update(
                connected=connected,
                ramp_s=round(ramp, 1),
                ping_gaps=len(late),
                pings=pings,
                lateness_ms_p50=round(percentile(late, 0.5), 1),
                lateness_ms_p99=round(percentile(late, 0.99), 1),
                lateness_ms_max=round(max(late), 1) if late else float("nan"),
                client_loop_lag_ms_p99=round(percentile(own_lag, 0.99), 1),
                rss_idle_mib=round(rss0 / 1024, 1),
                rss_mib=round(rss1 / 1024, 1),
                rss_per_session_kib=round((rss1 - rss0) / max(connected, 1), 1),
                node_cpu_pct=round(cpu * 100, 1),
                gc_pauses_ms=_gc_pauses(node.log),
            )
            if samples:
                result.update(
                    soak_s=a.soak_seconds,
                    soak_rss_start_mib=round(samples[0][1] / 1024, 1),
                    soak_rss_end_mib=round(samples[-1][1] / 1024, 1),
                    soak_rss_slope_kib_per_min=round(_slope_kb_per_min(samples), 1),
                    soak_rss_slope_2nd_half_kib_per_min=round(
                        _slope_kb_per_min(samples[len(samples) // 2 :]), 1
                    ),
                )
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
            node.stop()
            shutil.rmtree(root, ignore_errors=True)
    return result


def _print(r: dict[str, Any]) -> None:
    print(
        f"connected sessions: {r['connected']}/{r['clients']} "
        f"({'started interviews' if r['start'] else 'attached, idle'}), ramp {r['ramp_s']} s"
    )
    print(
        f"heartbeat lateness at the client ({r['ping_gaps']} ping gaps): "
        f"p50 {r['lateness_ms_p50']} ms, p99 {r['lateness_ms_p99']} ms, "
        f"max {r['lateness_ms_max']} ms (the clients' own loop lag p99 "
        f"{r['client_loop_lag_ms_p99']} ms)"
    )
    print(
        f"node RSS: {r['rss_idle_mib']} MiB idle -> {r['rss_mib']} MiB "
        f"({r['rss_per_session_kib']} KiB per session); node CPU {r['node_cpu_pct']} % "
        "of one core while holding"
    )
    _print_gc(r)
    if "soak_s" in r:
        print(
            f"soak {r['soak_s']:.0f} s: RSS {r['soak_rss_start_mib']} -> "
            f"{r['soak_rss_end_mib']} MiB, slope {r['soak_rss_slope_kib_per_min']} KiB/min "
            f"(second half {r['soak_rss_slope_2nd_half_kib_per_min']} KiB/min)"
        )


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(
        prog="parley bench load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-n", "--clients", type=int, default=200)
    p.add_argument("--rate", type=float, default=50.0, help="new connections per second")
    p.add_argument("--hold-seconds", type=float, default=30.0)
    p.add_argument("--soak-seconds", type=float, default=0.0)
    p.add_argument("--sample-seconds", type=float, default=5.0, help="RSS sampling in soak")
    p.add_argument("--start", action="store_true", help="also start each interview")
    p.add_argument(
        "--rotate",
        type=int,
        default=0,
        metavar="K",
        help="soak: K clients running whole interviews back to back (needs --soak-seconds)",
    )
    p.add_argument("--questions", type=int, default=2, help="questions per rotated interview")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = p.parse_args(argv)
    if a.rotate and not a.soak_seconds:
        p.error("--rotate needs --soak-seconds")
    run = _run_rotation(a) if a.rotate else _run(a)
    try:
        import uvloop

        result = uvloop.run(run)
    except ImportError:  # pragma: no cover
        result = asyncio.run(run)
    (_print_rotation if a.rotate else _print)(result)
    if a.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
