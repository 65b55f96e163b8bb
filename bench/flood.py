"""``parley bench flood``: does one flooding WebSocket client slow everyone else down?

Starts a real ``parley up`` (embedded NATS and Postgres, deterministic models, the edge and
the session actors in one process, as deployed), then for each kind of flood runs a
flooder in a process of its own while a victim interviews in another session:

- the flooder opens a session, then writes frames of one kind as fast as the socket takes
  them and never reads (``ping``, ``pong``, ``empty`` zero-length binary, ``odd``
  odd-length binary, ``junk`` malformed text, ``mixed`` all of them); when the edge
  closes it, it resumes its session and floods again, for the whole phase;
- the victim answers every question by text and times answer -> final transcript;
- ``/healthz`` is polled every 200 ms.

Prints per phase (``none`` is the baseline): the victim's answer -> transcript p50/p95
and the p95 added over the baseline, ``/healthz`` p95, the edge process's CPU, and how
long each flooding connection lived from its first flood frame to the edge closing it
(p50 and worst), with the frames it got in.

``--rotate``: every flooding connection from a new loopback address, so the edge never
refuses the flooder's address and each phase measures the cut connections alone (a
reconnect storm from many addresses; the per-address block is the other half of the
defence). ``parley bench flood --seconds 10 --kinds ping,empty``; ``--json`` for the
figures.
Goal (issue 23): under 50 ms added at p95, every flooder closed within 2 s.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import contextlib
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

from bench.servers import percentile
from bus.embedded import free_port
from parley.client import Client, masked_frame, raw_open
from parley.config import REPO

KINDS = ("ping", "pong", "empty", "odd", "junk", "mixed")
_OPCODES = {"text": 0x1, "binary": 0x2, "ping": 0x9, "pong": 0xA}


# --- the flooder (runs in a process of its own: ``python -m bench.flood --flooder``) ------


def flood_batch(kind: str, size: int = 64 * 1024) -> tuple[bytes, int]:
    """(bytes to write, frames in them) for one write of a ``kind`` flood."""
    frames = {
        "ping": [masked_frame(_OPCODES["ping"], b"")],
        "pong": [masked_frame(_OPCODES["pong"], b"")],
        "empty": [masked_frame(_OPCODES["binary"], b"")],
        "odd": [masked_frame(_OPCODES["binary"], b"\x01\x02\x03")],
        "junk": [masked_frame(_OPCODES["text"], b"{not json")],
    }
    cycle = [f for k in ("ping", "pong", "empty", "odd", "junk") for f in frames[k]]
    unit = cycle if kind == "mixed" else frames[kind]
    one = b"".join(unit)
    n = max(1, size // len(one))
    return one * n, n * len(unit)


async def flooder(port: int, kind: str, seconds: float, source: str, rotate: bool) -> None:
    """Flood, get closed, resume, flood again, until ``seconds`` are over; one JSON line
    per flooding connection on stdout. ``rotate``: every connection from another loopback
    address under ``source``'s first two octets (no address is cut often enough to be
    refused: the cost of the cut connections alone)."""
    batch, per_batch = flood_batch(kind)
    hello: dict[str, Any] = {"type": "hello"}
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    n = 0
    while loop.time() < end:
        if rotate:
            a, b = source.split(".")[:2]
            source = f"{a}.{b}.{n // 250 % 250}.{n % 250 + 1}"
            n += 1
        try:
            _reader, writer, ready = await raw_open(port, hello, source=source)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError) as exc:
            print(json.dumps({"refused": str(exc)[:200]}), flush=True)
            if "4404" in str(exc) or "unknown_session" in str(exc):
                hello = {"type": "hello"}  # the session is gone: open another
            await asyncio.sleep(0.2)
            continue
        if "session_id" not in hello:  # a new session: started, so it is not evicted
            writer.write(masked_frame(0x1, b'{"type":"start","questions":10}'))
        hello = {"type": "hello", "session_id": ready["session_id"], "token": ready["token"]}
        frames = 0
        t0 = loop.time()
        outcome = "closed"
        try:
            while loop.time() < end:
                writer.write(batch)
                frames += per_batch
                await asyncio.wait_for(writer.drain(), max(0.1, end - loop.time()))
        except TimeoutError:
            outcome = "open"  # the phase ended first (the edge stopped reading, or kept up)
        except (OSError, ConnectionError):
            pass
        if loop.time() >= end:
            outcome = "open"
        lived = loop.time() - t0
        writer.transport.abort()
        print(json.dumps({"outcome": outcome, "lived_s": lived, "frames": frames}), flush=True)


# --- the bench ------------------------------------------------------------------------


@dataclass
class Up:
    popen: subprocess.Popen[bytes]
    root: Path
    port: int

    def output(self) -> str:
        return (self.root / "up.log").read_text(errors="replace")

    def edge_pid(self) -> int:
        """The pid of the ``edge,session`` child (its title says so)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == self.popen.pid and b"edge" in cmd:
                return int(entry.name)
        return 0

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def _start_up() -> Up:
    root = Path(tempfile.mkdtemp(prefix="parley-bench-flood-"))
    root.chmod(0o755)  # the Postgres user must reach its data dir
    port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PARLEY_NATS_PORT": str(free_port()),
        "PARLEY_PG_PORT": str(free_port()),
        "PARLEY_SECRET": "bench-flood",
        # flooder and victim both come from 127.0.0.1: the flood is one connection's
        "PARLEY_MAX_CONNECTIONS_PER_IP": "0",
        "PARLEY_SESSIONS_PER_IP_PER_MIN": "0",
    }
    for name in ("NATS_URL", "DATABASE_URL", "PARLEY_NATS_CREDENTIALS"):
        env.pop(name, None)
    with open(root / "up.log", "wb") as out:
        popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parley.cli",
                "up",
                "--models",
                "deterministic",
                "--data-dir",
                str(root / "data"),
                "--port",
                str(port),
                "--node-id",
                "flood",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    up = Up(popen, root, port)
    end = time.monotonic() + 120
    while "parley is up" not in up.output():
        if popen.poll() is not None or time.monotonic() > end:
            text = up.output()[-3000:]
            up.stop()
            raise RuntimeError(f"parley up did not start:\n{text}")
        time.sleep(0.1)
    return up


@dataclass
class Phase:
    kind: str
    answers_ms: list[float] = field(default_factory=list)
    healthz_ms: list[float] = field(default_factory=list)
    flooders: list[dict[str, Any]] = field(default_factory=list)
    cpu_pct: float = 0.0


class Victims:
    """Interviews running through every phase, each answering by text as soon as a
    question listens; each answer -> final transcript time (ms) goes to the phase that
    was on when it was sent."""

    def __init__(self, port: int, n: int) -> None:
        self.port = port
        self.n = n
        self.phase: Phase | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.errors = 0
        self.stopping = False

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._run(i)) for i in range(self.n)]

    async def stop(self) -> None:
        self.stopping = True
        for t in self.tasks:
            t.cancel()
        await asyncio.wait(self.tasks, timeout=30)

    async def _run(self, i: int) -> None:
        await asyncio.sleep(i * 0.7)  # staggered: not every victim listens at once
        while not self.stopping:
            c = Client(f"ws://127.0.0.1:{self.port}/ws")
            try:
                await c.connect()
                await c.send(
                    {"type": "start", "role": "backend", "language": "en", "questions": 10}
                )
                await self._interview(c)
            except (TimeoutError, ConnectionError, OSError) as exc:
                self.errors += 1
                print(f"  victim {i}: {exc!r}"[:300], flush=True)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.close(), 10)

    async def _interview(self, c: Client) -> None:
        answered: set[int] = set()
        while not c.rx.of("report"):
            listening = [e for e in c.rx.of("state") if e["state"] == "listening"]
            turns = c.asked_turns()
            if not turns or turns[-1] in answered or len(listening) <= len(answered):
                await c.next_event(60)
                continue
            answered.add(turns[-1])
            finals = len([e for e in c.rx.of("transcript") if e.get("final")])
            phase = self.phase
            t0 = time.monotonic()
            await c.send({"type": "answer_text", "text": "I built it and measured it."})
            ev = await c.wait_for(
                "transcript", count=finals + 1, timeout=60, where=lambda e: e.get("final")
            )
            if phase is not None and phase is self.phase:
                phase.answers_ms.append((ev["_t"] - t0) * 1000)


async def _healthz(port: int, until: float, out: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            writer.write(f"{request}Connection: close\r\n\r\n".encode())
            await asyncio.wait_for(reader.read(), 10)
            writer.close()
            out.append((time.monotonic() - t0) * 1000)
        except (OSError, TimeoutError):
            out.append(10_000.0)
        await asyncio.sleep(0.2)


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _phase(
    up: Up, victims: Victims, kind: str, seconds: float, source: str, rotate: bool
) -> Phase:
    phase = Phase(kind)
    loop = asyncio.get_running_loop()
    proc = None
    if kind != "none":
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.flood",
            "--flooder",
            kind,
            "--port",
            str(up.port),
            "--seconds",
            str(seconds),
            "--source",
            source,
            *(["--rotate"] if rotate else []),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(0.5)  # the flood is on before the victim starts
    pid = up.edge_pid()
    cpu0, t0 = _cpu_s(pid), time.monotonic()
    until = loop.time() + seconds - (0.5 if proc else 0.0)
    victims.phase = phase
    await _healthz(up.port, until, phase.healthz_ms)
    victims.phase = None
    phase.cpu_pct = 100 * (_cpu_s(pid) - cpu0) / max(1e-6, time.monotonic() - t0)
    if proc is not None:
        assert proc.stdout is not None
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), seconds + 30)
        except TimeoutError:
            proc.kill()
            out, _ = await proc.communicate()
        for line in out.decode().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                phase.flooders.append(json.loads(line))
    await asyncio.sleep(1.0)  # let the edge settle before the next phase
    print(f"  {kind}: {len(phase.answers_ms)} answers", flush=True)
    return phase


def _summary(p: Phase, base_p95: float) -> dict[str, Any]:
    closed = [f["lived_s"] for f in p.flooders if f.get("outcome") == "closed"]
    still_open = [f["lived_s"] for f in p.flooders if f.get("outcome") == "open"]
    return {
        "flood": p.kind,
        "answers": len(p.answers_ms),
        "answer_transcript_p50_ms": percentile(p.answers_ms, 0.5),
        "answer_transcript_p95_ms": percentile(p.answers_ms, 0.95),
        "added_p95_ms": percentile(p.answers_ms, 0.95) - base_p95,
        "healthz_p95_ms": percentile(p.healthz_ms, 0.95),
        "edge_cpu_pct": p.cpu_pct,
        "flood_connections": len(closed) + len(still_open),
        "closed_after_p50_s": percentile(closed, 0.5) if closed else None,
        "closed_after_max_s": max(closed) if closed else None,
        "never_closed": len(still_open),
        "frames_per_connection": percentile(
            [float(f["frames"]) for f in p.flooders if "frames" in f], 0.5
        ),
        "refused_reconnects": sum(1 for f in p.flooders if "refused" in f),
    }


def _print(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'flood':<7} {'n':>4} {'ans→tr p50':>11} {'p95':>8} {'+p95':>8} {'healthz p95':>12} "
        f"{'edge CPU':>9} {'conns':>6} {'closed p50':>11} {'max':>7} {'open':>5} {'refused':>8}"
    )
    for r in rows:
        closed50 = r["closed_after_p50_s"]
        closed_max = r["closed_after_max_s"]
        print(
            f"{r['flood']:<7} {r['answers']:>4} {r['answer_transcript_p50_ms']:>9.1f}ms "
            f"{r['answer_transcript_p95_ms']:>6.1f}ms {r['added_p95_ms']:>+6.1f}ms "
            f"{r['healthz_p95_ms']:>10.1f}ms {r['edge_cpu_pct']:>8.0f}% "
            f"{r['flood_connections']:>6} "
            + (
                f"{closed50:>10.2f}s {closed_max:>6.2f}s"
                if closed50 is not None
                else f"{'—':>11} {'—':>7}"
            )
            + f" {r['never_closed']:>5} {r['refused_reconnects']:>8}"
        )


async def _run(a: argparse.Namespace) -> list[dict[str, Any]]:
    kinds = [k for k in a.kinds.split(",") if k]
    up = await asyncio.to_thread(_start_up)
    victims = Victims(up.port, a.victims)
    try:
        victims.start()
        await asyncio.sleep(15)  # past the greetings: the victims are mid-interview
        phases = [await _phase(up, victims, "none", a.seconds, "", False)]
        for i, kind in enumerate(kinds):  # each flooder from an address of its own
            source = f"127.{i + 10}.0.1" if a.rotate else f"127.0.0.{i + 2}"
            phases.append(await _phase(up, victims, kind, a.seconds, source, a.rotate))
    finally:
        await victims.stop()
        await asyncio.to_thread(up.stop)
    base = percentile(phases[0].answers_ms, 0.95)
    return [_summary(p, base) for p in phases]


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(
        prog="parley bench flood",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    p.add_argument("--victims", type=int, default=8, help="interviews answering meanwhile")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"floods to run, from {KINDS}")
    p.add_argument(
        "--rotate",
        action="store_true",
        help="each flooding connection from a new address: never refused, always reconnecting",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--flooder", choices=KINDS, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--source", default="127.0.0.2", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.flooder:
        asyncio.run(flooder(a.port, a.flooder, a.seconds, a.source, a.rotate))
        return
    rows = asyncio.run(_run(a))
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")
        _print(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
