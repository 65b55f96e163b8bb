"""``parley bench e2e``: voice-to-voice latency through the whole system.

Starts fresh embedded servers and one node with every role on the real models (or
``--models deterministic``), then drives N scripted clients through real interviews over
WebSockets, speaking espeak-ng answers in real time as PCM frames. Prints:

- per spoken turn, then p50/p95, all from the candidate's LAST VOICED SAMPLE sent (not the
  end of the audio buffer, which trails by the synthesiser's silence): end of turn
  decided (the ``thinking`` state arrives), STT final (the final transcript arrives),
  first interviewer audio (the spoken acknowledgment: voice-to-voice), first audio of the
  real reply (the next question or follow-up, after its text arrived); a turn that ended
  before the last voiced sample is counted as a premature turn end;
- the per-turn breakdown the session recorded (endpointing, STT final, acknowledgment
  audio, LLM first sentence, TTS first audio), medians;
- throughput: the wall time of the N concurrent interviews, interviews per hour at that
  concurrency, and how often the models were too slow for a deadline (a bank question
  instead of the LLM's, a heuristic score instead of the LLM's assessment).

``--replay`` instead replays finished and mid-sentence-paused espeak-ng answers through
the session core with the real VAD, end-of-turn model and STT (no servers, no LLM; see
:mod:`bench.turns`): end of turn and STT final per answer, and the count of premature
turn ends on the paused set, without and with the end-of-turn model.

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

from actors.session.snapshot import decode_stored_state
from bench.servers import bench_servers, percentile
from bench.speech import speak_pcm16
from bus.embedded import free_port
from parley.client import Client, last_voiced_s
from parley.config import Config
from parley.node import Node
from persistence import snapshots, transcripts
from persistence.pool import create_pool

ANSWER = (
    "In my last project I built a payment service in Python. It handled ten thousand "
    "requests per second, and I cut the latency in half by adding a cache."
)


Row = dict[str, float | None]


def _after(events: list[dict[str, object]], t0: float, last_voice: float) -> float | None:
    """Seconds from the last voiced sample to the first of ``events`` at or after ``t0``."""
    times = sorted(float(e["_t"]) for e in events if float(e["_t"]) >= t0)  # type: ignore[arg-type]
    return times[0] - last_voice if times else None


async def _one_interview(
    url: str,
    pcm: bytes,
    questions: int,
    v2v: list[float],
    nextq: list[float],
    show: bool = False,
    rows: list[Row] | None = None,
    reports: list[tuple[float, bool]] | None = None,
) -> str:
    """One spoken interview; appends to ``v2v``/``nextq``/``rows`` per turn and to
    ``reports`` (seconds from the last answer's last voiced sample to the report event,
    whether the report is estimated)."""
    c = Client(url)
    await c.connect()
    await c.send({"type": "start", "role": "backend", "language": "en", "questions": questions})
    answered: set[int] = set()
    last_voice: float | None = None
    while not c.rx.of("report"):
        pending = [t for t in c.asked_turns() if t not in answered]
        if not pending:
            await c.next_event(300)
            continue
        turn = pending[0]
        answered.add(turn)
        q = [e for e in c.rx.of("question") if e["turn"] == turn][-1]
        await c.wait_for(
            "state",
            timeout=300,
            where=lambda e, s=q["seq"]: e["state"] == "listening" and e["seq"] > s,
        )
        spoke_at = asyncio.get_running_loop().time()
        last_voice = await c.speak(pcm, silence_s=2.5)
        row: Row = {"turn": float(turn)}
        row["end"] = _after(
            [e for e in c.rx.of("state") if e["state"] != "listening"], spoke_at, last_voice
        )
        n_audio = sum(1 for a in c.rx.audio if a[4] <= last_voice)
        # first interviewer audio after the last voiced sample
        while len(c.rx.audio) <= n_audio and not c.rx.of("report"):
            await c.next_event(300)
        if len(c.rx.audio) > n_audio:
            v2v.append(c.rx.audio[n_audio][4] - last_voice)
            row["audio"] = v2v[-1]
        row["final"] = _after(
            [e for e in c.rx.of("transcript") if e["final"] and e["turn"] == turn],
            spoke_at,
            last_voice,
        )
        # first audio after the next question's text arrived
        while not c.rx.of("report"):
            later = [
                e
                for e in c.rx.of("question")
                if e["kind"] in ("main", "followup") and e["turn"] not in answered
            ]
            if later:
                qt = later[0]["_t"]
                frames = [a for a in c.rx.audio if a[0] == later[0]["turn"] and a[4] >= qt]
                if frames:
                    nextq.append(frames[0][4] - last_voice)
                    row["reply"] = nextq[-1]
                    break
            await c.next_event(300)
        if rows is not None:
            rows.append(row)
    await c.close()
    if reports is not None and last_voice is not None:
        ev_report = c.rx.of("report")[0]
        reports.append(
            (float(ev_report["_t"]) - last_voice, bool(ev_report["report"].get("estimated")))
        )
    if show:
        report = c.rx.of("report")[0]["report"]
        print("\ntranscript:")
        for line in report.get("transcript", []):
            who = "Interviewer" if line.get("speaker") == "interviewer" else "Candidate"
            print(f"  {who}: {line.get('text', '')}")
        print(f"overall {report.get('overall')} / 5, scores {report.get('scores')}")
        print(f"summary: {report.get('summary')}\n")
    return c.session_id


async def _run(
    clients: int,
    questions: int,
    models: str,
    show: bool,
    layout: str,
    voice: str = "espeak",
    llm: str = "embedded",
) -> None:
    if voice == "piper":
        from bench.turns import answer_set

        pcm = answer_set(paused=False, languages=("en",), voice="piper", texts=[ANSWER])[0].pcm
    else:
        pcm = speak_pcm16(ANSWER)
    print(
        f"answer audio: {len(pcm) / 32000:.1f} s of {voice} speech (last voiced sample at "
        f"{last_voiced_s(pcm):.2f} s); {clients} client(s), {questions} questions each, "
        f"models={models}, llm={llm}"
    )
    if llm != "embedded":
        print(f"LLM: the OpenAI-compatible server at {os.environ['PARLEY_LLM_URL']}")
    if os.environ.get("PARLEY_TTS_URL"):
        print(
            f"interviewer's voice: the speech server at {os.environ['PARLEY_TTS_URL']} "
            f"(en {os.environ.get('PARLEY_TTS_VOICE_EN', 'embedded')}, "
            f"ko {os.environ.get('PARLEY_TTS_VOICE_KO', 'embedded')}); embedded as backup"
        )
    else:
        print("interviewer's voice: embedded (piper en, espeak-ng ko)")
    await _run_system(clients, questions, models, show, layout, pcm)


async def _run_system(
    clients: int, questions: int, models: str, show: bool, layout: str, pcm: bytes
) -> None:
    with bench_servers() as (nats_url, dsn), tempfile.TemporaryDirectory() as tmp:
        cfg = Config.from_env(  # PARLEY_LLM_URL etc. as main() set them
            nats_url=nats_url,
            database_url=dsn,
            port=0,
            node_id="bench-e2e",
            secret="bench",
            data_dir=Path(tmp),
        )
        cfg.models = "deterministic" if models == "deterministic" else "real"
        t = time.perf_counter()
        async with _system(cfg, layout) as (port, pool):
            print(f"node ready in {time.perf_counter() - t:.1f} s ({layout} layout)")
            url = f"ws://127.0.0.1:{port}/ws"
            await _drive(url, pcm, clients, questions, show, pool)
            await _print_tts_stats(nats_url, cfg.data_dir / "up.log")


async def _print_tts_stats(nats_url: str, log: Path) -> None:
    """Which voice spoke: the TTS actor's engines, cache hits and fallbacks to the backup
    (with the reasons the TTS process logged, when it ran under ``parley up``)."""
    import msgspec

    from bus.connection import connect

    nc = await connect(nats_url, "bench-e2e-stats")
    try:
        msg = await nc.request("$SRV.STATS.parley-tts", b"", timeout=2.0)
        data = msgspec.json.decode(msg.data)["endpoints"][0]["data"]
        print(
            f"tts: {data['engine']}; jobs {data['jobs_done']}, cache hits {data['cache_hits']}, "
            f"fallbacks to the embedded voice {data.get('fallbacks', 0)}"
        )
        text = await asyncio.to_thread(
            lambda: log.read_text(errors="replace") if log.is_file() else ""
        )
        for line in text.splitlines():
            if line.startswith("[tts]") and " failed " in line:
                print("  " + line)
    except Exception as exc:  # a report line must not fail the benchmark
        print(f"tts stats unavailable: {exc}")
    finally:
        await nc.drain()


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
        # the supervisor's own line (its children's lines carry a "[role] " prefix)
        while "\nparley is up (roles:" not in log.read_text(errors="replace"):
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
    env = {
        **os.environ,
        "NATS_URL": cfg.nats_url,
        "DATABASE_URL": cfg.database_url,
        "PARLEY_SECRET": cfg.secret,
        "PYTHONUNBUFFERED": "1",
    }
    with open(log, "wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parley.cli",
                "up",
                "--models",
                cfg.models,
                "--port",
                str(port),
                "--data-dir",
                str(cfg.data_dir),
                "--node-id",
                cfg.node_id,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def _drive(
    url: str, pcm: bytes, clients: int, questions: int, show: bool, pool: asyncpg.Pool
) -> None:
    v2v: list[float] = []
    nextq: list[float] = []
    rows: list[Row] = []
    reports: list[tuple[float, bool]] = []
    t0 = time.perf_counter()
    sids = await asyncio.gather(
        *(
            _one_interview(url, pcm, questions, v2v, nextq, show and i == 0, rows, reports)
            for i in range(clients)
        )
    )
    wall = time.perf_counter() - t0
    breakdown: dict[str, list[float]] = {}
    fallbacks: dict[str, int] = {"bank questions": 0, "heuristic scores": 0, "deadlines expired": 0}
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
    print(
        f"{clients} concurrent interview(s) of {questions} questions took {wall:.0f} s: "
        f"{clients / wall * 3600:.0f} interviews per hour at this concurrency"
    )
    print("model deadlines missed: " + ", ".join(f"{k} {v}" for k, v in fallbacks.items()))
    print(
        f"voice-to-voice (last voiced sample -> first interviewer audio), n={len(v2v)}: "
        f"p50 {ms(percentile(v2v, 0.5))}, p95 {ms(percentile(v2v, 0.95))}"
    )
    print(
        f"next question or follow-up first audio, n={len(nextq)}: "
        f"p50 {ms(percentile(nextq, 0.5))}, p95 {ms(percentile(nextq, 0.95))}"
    )
    after = [r[0] for r in reports]
    print(
        f"last answer's last voiced sample -> report, n={len(after)}: "
        f"p50 {ms(percentile(after, 0.5))}, p95 {ms(percentile(after, 0.95))}; "
        f"{sum(r[1] for r in reports)} estimated"
    )
    _print_rows(rows)
    print("per-turn breakdown recorded by the session (median):")
    for k in sorted(breakdown):
        print(f"  {k:<24} {statistics.median(breakdown[k]):,.0f} ms  (n={len(breakdown[k])})")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


_COLUMNS = (
    ("end", "end of turn"),
    ("final", "STT final"),
    ("audio", "first audio"),
    ("reply", "real reply"),
)


def _print_rows(rows: list[Row]) -> None:
    """Per spoken turn, from the last voiced sample; then p50/p95 per column."""
    print("per spoken turn, from the last voiced sample (ms):")
    print("  turn " + "".join(f"{label:>13}" for _, label in _COLUMNS))
    for r in rows:
        cells = "".join(
            f"{'-' if r.get(k) is None else f'{r[k] * 1000:,.0f}':>13}"  # type: ignore[operator]
            for k, _ in _COLUMNS
        )
        print(f"  {int(r['turn'] or 0):>4} {cells}")
    for q in (0.5, 0.95):
        cells = ""
        for k, _ in _COLUMNS:
            xs = [float(v) for r in rows if (v := r.get(k)) is not None]
            cells += f"{ms(percentile(xs, q)) if xs else '-':>13}"
        print(f"  p{int(q * 100):<3}{cells}")
    early = sum(1 for r in rows if (e := r.get("end")) is not None and e < 0)
    print(f"premature turn ends (turn over before the last voiced sample): {early} of {len(rows)}")


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="parley bench e2e")
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--questions", type=int, default=3)
    p.add_argument("--models", choices=("real", "deterministic"), default="real")
    p.add_argument("--show", action="store_true", help="print the first interview's transcript")
    p.add_argument(
        "--layout",
        choices=("split", "single"),
        default="split",
        help="split: parley up, one process per engine (default); single: every "
        "role in this process, as before the supervisor",
    )
    p.add_argument(
        "--replay",
        action="store_true",
        help="replay finished and paused answers through the session core with "
        "the real VAD, end-of-turn model and STT (no servers, no LLM)",
    )
    p.add_argument("--languages", default="en,ko", help="--replay: languages (en,ko)")
    p.add_argument("--answers", type=int, default=10, help="--replay: answers per language")
    p.add_argument(
        "--voice",
        choices=("espeak", "piper"),
        default="espeak",
        help="the candidate's English voice (Korean is always espeak-ng)",
    )
    p.add_argument(
        "--tts",
        default="embedded",
        help="embedded: piper/espeak-ng in the TTS actor (default); server: start the "
        "small OpenAI-compatible speech server (parley/tts_server.py: the same piper "
        "and espeak-ng voices behind POST /v1/audio/speech) on loopback and give the "
        "TTS actor its voices, the embedded ones as backup; or a URL of a running "
        "server (PARLEY_TTS_VOICE_EN/_KO, _MODEL, _FORMAT apply)",
    )
    p.add_argument(
        "--llm",
        default="embedded",
        help="embedded: llama.cpp in the LLM actor (default); server: start "
        "llama-cpp-python's OpenAI-compatible server on loopback with the same "
        "GGUF and point the LLM actor at it; or a URL of a running server "
        "(PARLEY_LLM_MODEL/_API_KEY/_CONCURRENCY/_STRUCTURED apply)",
    )
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if a.replay:
        from bench.turns import run_replay

        run_replay(
            languages=tuple(x for x in a.languages.split(",") if x), limit=a.answers, voice=a.voice
        )
        return
    if a.llm not in ("embedded", "server") and not a.llm.startswith(("http://", "https://")):
        p.error("--llm must be embedded, server or an http(s) URL")
    if a.tts not in ("embedded", "server") and not a.tts.startswith(("http://", "https://")):
        p.error("--tts must be embedded, server or an http(s) URL")
    with contextlib.ExitStack() as stack:
        if a.tts == "server":
            from parley.tts_server import tts_server

            speech = stack.enter_context(tts_server(voices=["joe=piper", "ko=espeak:ko"]))
            os.environ.update(
                PARLEY_TTS_URL=speech.url, PARLEY_TTS_VOICE_EN="joe", PARLEY_TTS_VOICE_KO="ko"
            )
            # it renders one utterance per voice at a time, like the embedded voice: more in
            # flight would only queue there, on the first-audio clock
            os.environ.setdefault("PARLEY_TTS_CONCURRENCY", "1")
        elif a.tts != "embedded":
            os.environ["PARLEY_TTS_URL"] = a.tts
        if a.llm == "server":
            from parley.llm_server import llama_server

            server = stack.enter_context(llama_server(threads=Config.from_env().llm_threads))
            os.environ["PARLEY_LLM_URL"] = server.url  # read by the node (or parley up)
            os.environ.setdefault("PARLEY_LLM_STRUCTURED", "gbnf")
        elif a.llm != "embedded":
            os.environ["PARLEY_LLM_URL"] = a.llm
        asyncio.run(_run(a.clients, a.questions, a.models, a.show, a.layout, a.voice, a.llm))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
