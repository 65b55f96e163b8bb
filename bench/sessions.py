"""``parley bench sessions``: what one session node holds and how steady its heartbeats are.

Prints, against a fresh nats-server and Postgres on loopback:
- tick/heartbeat lateness p50/p99 of live session actors while CPU-heavy work runs in
  the same process (``numpy``: BLAS in a thread, as inference does; ``python``: a
  GIL-holding pure-Python loop in a thread, the worst case; ``llm``: the real llama.cpp
  model generating in a thread; ``llm-process``: the same in a process of its own at the
  engines' lower priority, as ``parley up`` runs it);
- how many idle sessions one process holds and the memory per session (RSS delta);
- snapshot write latency p50/p99 (fenced upsert of a real core snapshot).
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import gc
import resource
import subprocess
import sys
import threading
import time

from actors.bank import load_bank
from actors.runtime import Lease
from actors.session import inputs
from actors.session.config import CoreConfig
from actors.session.core import SessionCore
from actors.session.node import SessionNode
from actors.session.phrases import default_phrases
from bench.servers import bench_servers, percentile
from bus import events
from bus.connection import connect
from bus.provision import provision
from persistence import snapshots
from persistence.migrate import migrate
from persistence.pool import create_pool


class _SilentVad:
    def process(self, pcm16: bytes) -> list[float]:
        return [0.0] * (len(pcm16) // 1024)

    def reset(self) -> None:
        pass


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _burn(kind: str, stop: threading.Event) -> None:
    if kind == "numpy":
        import numpy as np

        a = np.random.default_rng(0).normal(size=(600, 600))
        while not stop.is_set():
            a = np.tanh(a @ a) * 0.5
    elif kind == "python":
        x = 0
        while not stop.is_set():
            for i in range(10_000):
                x = (x * 31 + i) % 1_000_003
    elif kind == "llm":
        _generate_until(stop)
    elif kind == "llm-process":
        # the same work in a process of its own, as `parley up` runs the LLM: the session
        # process shares the cores but not its interpreter lock
        from parley.supervisor import ENGINE_NICE, engine_preexec

        proc = subprocess.Popen(
            [sys.executable, "-c", _LLM_CHILD], preexec_fn=engine_preexec(ENGINE_NICE)
        )
        stop.wait()
        proc.terminate()
        proc.wait(30)


_LLM_CHILD = """
import threading
from bench.sessions import _generate_until
_generate_until(threading.Event())  # until SIGTERM
"""


def _generate_until(stop: threading.Event) -> None:
    """The real LLM generating questions back to back until ``stop``."""
    from actors.models.registry import build_llm
    from bus.jobs import LlmJob

    llm = build_llm("real")
    llm.load()
    job = LlmJob(
        job_id="bench",
        session_id="benchsess",
        task="question",
        language="en",
        role="backend",
        max_tokens=64,
    )
    while not stop.is_set():
        for _ in llm.generate(job, stop):
            pass


async def _lateness(node: SessionNode, load: str, seconds: float) -> tuple[float, float, int]:
    node.deps.lateness.clear()
    stop = threading.Event()
    worker = threading.Thread(target=_burn, args=(load, stop), daemon=True) if load else None
    if worker:
        worker.start()
        await asyncio.sleep(8.0 if load.startswith("llm") else 2.0)  # load and spin up
        node.deps.lateness.clear()
    await asyncio.sleep(seconds)
    late = list(node.deps.lateness)
    stop.set()
    if worker:
        await asyncio.to_thread(worker.join, 30)
    return percentile(late, 0.5) * 1000, percentile(late, 0.99) * 1000, len(late)


async def _run(idle: int, live: int, seconds: float, loads: list[str], snaps: int) -> None:
    with bench_servers() as (url, dsn):
        await migrate(dsn)
        nc = await connect(url, "bench-sessions")
        layout = await provision(nc.jetstream(), owner_ttl=10.0)
        pool = await create_pool(dsn, max_size=8)
        node = SessionNode(
            nc,
            pool,
            layout.owners,
            node_id="bench",
            new_vad=_SilentVad,
            owner_ttl=10.0,
            max_sessions=idle + live + 10,
        )
        await node.start()  # the lease keeper; activations come from here, not NATS
        # live sessions: started interviews (no model workers here: their jobs wait and
        # fall back), so the core asks for a tick every 100 ms
        for i in range(live):
            actor = await node.activate(f"bench-live-{i:05d}", create=True)
            actor._feed(inputs.ClientInput(event=events.Start(questions=3), now=time.monotonic()))
        print(f"{live} active session actors ticking every 100 ms, {seconds:.0f} s per load:")
        for load in ["", *loads]:
            p50, p99, n = await _lateness(node, load, seconds)
            print(
                f"  tick lateness with {load or 'no'} load: p50 {p50:.2f} ms, "
                f"p99 {p99:.2f} ms ({n} ticks)"
            )
        gc.collect()
        before = _rss_kb()
        t0 = time.perf_counter()
        for i in range(idle):
            await node.activate(f"bench-idle-{i:05d}", create=True)
        took = time.perf_counter() - t0
        await asyncio.sleep(2)
        gc.collect()
        after = _rss_kb()
        print(
            f"{idle} idle sessions activated in {took:.1f} s on one node; "
            f"RSS +{(after - before) / 1024:.1f} MiB = {(after - before) / max(idle, 1):.1f} "
            f"KiB per session (actors: {len(node.actors)})"
        )
        # snapshot writes: a real core snapshot, fenced upsert
        core = SessionCore.new("bench-snap-0001", CoreConfig(), load_bank(), default_phrases)
        blob = core.snapshot()
        lease = Lease(layout.owners, "bench-snap-0001", "bench", 10.0)
        rev = await lease.claim()
        lat = []
        for i in range(snaps):
            t = time.perf_counter()
            await snapshots.save_snapshot(
                pool, "bench-snap-0001", blob, fence=rev, seq=i, owner="bench"
            )
            lat.append(time.perf_counter() - t)
        print(
            f"snapshot write ({len(blob)} B, fenced upsert): p50 "
            f"{percentile(lat, 0.5) * 1000:.2f} ms, p99 {percentile(lat, 0.99) * 1000:.2f} ms"
        )
        await node.drain(timeout=120)
        await lease.release()
        await pool.close()
        await nc.drain()


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="parley bench sessions")
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--live", type=int, default=50)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument(
        "--loads",
        default="numpy,python",
        help="comma list of numpy,python,llm (in a thread of this process), "
        "llm-process (in a process of its own, as parley up runs it)",
    )
    p.add_argument("--snapshots", type=int, default=500)
    a = p.parse_args(argv)
    asyncio.run(_run(a.idle, a.live, a.seconds, [x for x in a.loads.split(",") if x], a.snapshots))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
