"""``parley bench e2e``: voice-to-voice latency through the whole system.

Starts fresh embedded servers and one node with every role on the real models (or
``--models deterministic``), then drives N scripted clients through real interviews over
WebSockets, speaking espeak-ng answers in real time as PCM frames. Prints:

- voice-to-voice: the candidate's last voiced sample sent -> the first interviewer audio
  byte received (the spoken acknowledgment), p50/p95;
- next question: last voiced sample -> first audio of the next question or follow-up
  (after its text arrived), p50/p95;
- the per-turn breakdown the session recorded (endpointing, STT final, acknowledgment
  audio, LLM first sentence, TTS first audio), medians;
- throughput: the wall time of the N concurrent interviews, interviews per hour at that
  concurrency, and how often the models were too slow for a deadline (a bank question
  instead of the LLM's, a heuristic score instead of the LLM's assessment).

Run it with ``--clients 1``, ``2``, ``4`` ... to see what one machine sustains: the
latency figures stretch and the fallbacks rise once the models are the bottleneck.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from actors.session.actor import decode_stored_state
from bench.client import Client
from bench.servers import bench_servers, percentile
from bench.speech import speak_pcm16
from bus.embedded import free_port
from parley.config import Config
from parley.node import Node
from persistence import snapshots, transcripts
from persistence.pool import create_pool

ANSWER = ("In my last project I built a payment service in Python. It handled ten thousand "
          "requests per second, and I cut the latency in half by adding a cache.")


async def _one_interview(url: str, pcm: bytes, questions: int,
                         v2v: list[float], nextq: list[float], show: bool = False) -> str:
    c = Client(url)
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en",
                  "questions": questions})
    answered: set[int] = set()
    while not c.rx.of("report"):
        pending = [t for t in c.asked_turns() if t not in answered]
        if not pending:
            await c.next_event(300)
            continue
        turn = pending[0]
        answered.add(turn)
        q = [e for e in c.rx.of("question") if e["turn"] == turn][-1]
        await c.wait_for("state", timeout=300,
                         where=lambda e, s=q["seq"]: e["state"] == "listening" and e["seq"] > s)
        last_voice = await c.speak(pcm, silence_s=2.5)
        n_audio = sum(1 for a in c.rx.audio if a[4] <= last_voice)
        # first interviewer audio after the last voiced sample
        while len(c.rx.audio) <= n_audio and not c.rx.of("report"):
            await c.next_event(300)
        if len(c.rx.audio) > n_audio:
            v2v.append(c.rx.audio[n_audio][4] - last_voice)
        # first audio after the next question's text arrived
        while not c.rx.of("report"):
            later = [e for e in c.rx.of("question")
                     if e["kind"] in ("main", "followup") and e["turn"] not in answered]
            if later:
                qt = later[0]["_t"]
                frames = [a for a in c.rx.audio if a[0] == later[0]["turn"] and a[4] >= qt]
                if frames:
                    nextq.append(frames[0][4] - last_voice)
                    break
            await c.next_event(300)
    await c.close()
    if show:
        report = c.rx.of("report")[0]["report"]
        print("\ntranscript:")
        for line in report.get("transcript", []):
            who = "Interviewer" if line.get("speaker") == "interviewer" else "Candidate"
            print(f"  {who}: {line.get('text', '')}")
        print(f"overall {report.get('overall')} / 5, scores {report.get('scores')}")
        print(f"summary: {report.get('summary')}\n")
    return c.session_id


async def _run(clients: int, questions: int, models: str, show: bool, layout: str) -> None:
    pcm = speak_pcm16(ANSWER)
    print(f"answer audio: {len(pcm) / 32000:.1f} s of espeak-ng speech; {clients} client(s), "
          f"{questions} questions each, models={models}")
    with bench_servers() as (nats_url, dsn), tempfile.TemporaryDirectory() as tmp:
        cfg = Config(nats_url=nats_url, database_url=dsn, port=0, node_id="bench-e2e",
                     secret="bench", data_dir=Path(tmp))
        cfg.models = "deterministic" if models == "deterministic" else "real"
        t = time.perf_counter()
        async with _system(cfg, layout) as (port, pool):
            print(f"node ready in {time.perf_counter() - t:.1f} s ({layout} layout)")
            url = f"ws://127.0.0.1:{port}/ws"
            await _drive(url, pcm, clients, questions, show, pool)


@contextlib.asynccontextmanager
async def _system(cfg: Config, layout: str) -> AsyncIterator[tuple[int, asyncpg.Pool]]:
    """Every role either in this one process (``single``: how Parley ran before the
    supervisor) or as ``parley up`` with one process per engine (``split``)."""
    if layout == "single":
        node = Node(cfg)
        await node.start()
        assert node.edge is not None and node.pool is not None
        try:
            yield node.edge.port, node.pool
        finally:
            await node.stop()
        return
    port = free_port()
    log = cfg.data_dir / "up.log"
    up = _spawn_up(cfg, port, log)
    try:
        while "parley is up (roles:" not in log.read_text(errors="replace"):
            if up.poll() is not None:
                raise RuntimeError(log.read_text(errors="replace")[-3000:])
            await asyncio.sleep(0.2)
        pool = await create_pool(cfg.database_url, max_size=2)  # after the migrations
        try:
            yield port, pool
        finally:
            await pool.close()
    finally:
        up.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(up.wait, 60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)


def _spawn_up(cfg: Config, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NATS_URL": cfg.nats_url, "DATABASE_URL": cfg.database_url,
           "PARLEY_SECRET": cfg.secret, "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "parley.cli", "up", "--models", cfg.models, "--port",
             str(port), "--data-dir", str(cfg.data_dir), "--node-id", cfg.node_id],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


async def _drive(url: str, pcm: bytes, clients: int, questions: int, show: bool,
                 pool: asyncpg.Pool) -> None:
    v2v: list[float] = []
    nextq: list[float] = []
    t0 = time.perf_counter()
    sids = await asyncio.gather(*(_one_interview(url, pcm, questions, v2v, nextq,
                                                 show and i == 0)
                                  for i in range(clients)))
    wall = time.perf_counter() - t0
    breakdown: dict[str, list[float]] = {}
    fallbacks: dict[str, int] = {"bank questions": 0, "heuristic scores": 0,
                                 "deadlines expired": 0}
    for sid in sids:
        for _ in range(150):  # the last writes may trail the report event by a moment
            row = await snapshots.load_snapshot(pool, sid)
            if row is not None and row.status == "finished":
                break
            await asyncio.sleep(0.1)
        for turn in await transcripts.load_turns(pool, sid):
            for k, v in turn.latency.items():
                breakdown.setdefault(k, []).append(float(v))
        row = await snapshots.load_snapshot(pool, sid)
        if row is not None and row.snapshot:
            counters = decode_stored_state(row.snapshot).counters
            fallbacks["bank questions"] += counters.bank_fallbacks
            fallbacks["heuristic scores"] += counters.assess_fallbacks
            fallbacks["deadlines expired"] += counters.deadlines_expired
    print(f"{clients} concurrent interview(s) of {questions} questions took {wall:.0f} s: "
          f"{clients / wall * 3600:.0f} interviews per hour at this concurrency")
    print("model deadlines missed: " + ", ".join(f"{k} {v}" for k, v in fallbacks.items()))
    print(f"voice-to-voice (last voiced sample -> first interviewer audio), n={len(v2v)}: "
          f"p50 {ms(percentile(v2v, .5))}, p95 {ms(percentile(v2v, .95))}")
    print(f"next question or follow-up first audio, n={len(nextq)}: "
          f"p50 {ms(percentile(nextq, .5))}, p95 {ms(percentile(nextq, .95))}")
    print("per-turn breakdown recorded by the session (median):")
    for k in sorted(breakdown):
        print(f"  {k:<24} {statistics.median(breakdown[k]):,.0f} ms  (n={len(breakdown[k])})")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="parley bench e2e")
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--questions", type=int, default=3)
    p.add_argument("--models", choices=("real", "deterministic"), default="real")
    p.add_argument("--show", action="store_true", help="print the first interview's transcript")
    p.add_argument("--layout", choices=("split", "single"), default="split",
                   help="split: parley up, one process per engine (default); single: every "
                        "role in this process, as before the supervisor")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_run(a.clients, a.questions, a.models, a.show, a.layout))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
