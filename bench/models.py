"""``parley bench models``: latency of the real model engines on this machine.

Prints, per engine:

* STT — a ~10 s spoken answer (piper's voice, resampled to 16 kHz) split at its pauses
  into segments that are decoded while the candidate is still speaking, as the session
  does; reported: each segment's decode time and the latency after the end of speech
  (what the candidate waits for), then the whole clip decoded at once for comparison;
* LLM — load time, then for a realistic question prompt (role, three context chunks, one
  previous exchange): prompt tokens, reused (KV-cached) tokens, time to first token, time
  to first sentence and decode tokens/s; a second turn of the same session (prefix reuse),
  a Korean question, a follow-up and a rubric assessment;
* TTS — time to first chunk and real-time factor for English (piper, long-lived child)
  and Korean (espeak-ng), plus one short-lived ``python -m piper`` per utterance for
  comparison;
* embeddings — passages/s for a batch and single-query latency (e5; MiniLM with
  ``--minilm``);
* fillers — filler recall and speaking-rate error of the transcripts the delivery report
  counts, on espeak-ng answers with inserted fillers, English and Korean, with Whisper's
  filler prompt and without (:mod:`bench.fillers`);
* startup (only with ``--only startup``) — the LLM's first start, warm start and SIGSEGV
  -> ready under ``parley up`` (:mod:`bench.startup`);
* turn — the end-of-turn model (Smart Turn v3.2, one onnxruntime thread): load time,
  inference time per call (features included), and how often it calls a turn finished on
  espeak-ng answers: whole sentences vs. the same sentences stopped mid-way (at the pause
  point of the paused-answer set), 200 ms of silence after the words, English and Korean.

Run: ``.venv/bin/python -m bench.models [--only stt,llm] [--repeat 3]`` or
``parley bench models``. Other work on the machine skews the figures: the load average is
printed first.
"""

from __future__ import annotations

__all__ = ["add_arguments", "main", "run"]

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from actors.models.audio import pcm16_to_float, resample
from actors.models.cpuinfo import engine_cpu_line, host_cpu_line

# About 10 s of speech with the pauses (piper's voice).
ANSWER = [
    "I led the migration of our billing database to PostgreSQL.",
    "I wrote the dual write layer and the backfill scripts.",
    "Afterwards the slowest queries got three times faster.",
]
PAUSE_S = 0.7  # between sentences: where the session's endpointer cuts a segment
SECTIONS = ("stt", "fillers", "llm", "tts", "embed", "turn")
OPTIONAL = ("llm-threads", "startup")  # run only when named in --only


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--only", default=",".join(SECTIONS), help="comma list of " + ",".join(SECTIONS + OPTIONAL)
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="llm-threads: A/B rounds, 1 thread against --threads (default 3)",
    )
    p.add_argument(
        "--threads", type=int, default=2, help="threads per model except the LLM (default 2)"
    )
    p.add_argument(
        "--llm-threads",
        type=int,
        default=1,
        help="llama.cpp threads (default 1, as a node runs it)",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per STT/TTS figure (median)")
    p.add_argument("--beam", type=int, default=1, help="Whisper beam size")
    p.add_argument("--minilm", action="store_true", help="also time all-MiniLM-L6-v2")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="parley bench models", description=__doc__)
    add_arguments(p)
    run(p.parse_args(argv))


def run(args: argparse.Namespace) -> None:
    """Run the sections named in ``args.only`` and print their figures."""
    only = {s.strip() for s in str(getattr(args, "only", ",".join(SECTIONS))).split(",")}
    threads = int(getattr(args, "threads", 2))
    repeat = max(1, int(getattr(args, "repeat", 3)))
    load1, load5, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load1:.2f} (1 min) {load5:.2f} (5 min)")
    print(f"threads per model: {threads}; figures are medians of {repeat} runs where repeated")
    print(f"cpu: {host_cpu_line()}")
    for kind, engine in (("llm", "llama.cpp"), ("stt", "faster-whisper"), ("vad", "onnx")):
        if kind in only or kind == "vad":
            print(f"  {kind}: {engine_cpu_line(kind, engine)}")
    if "stt" in only:
        _bench_stt(threads, repeat, int(getattr(args, "beam", 1)))
    if "fillers" in only:
        _header("STT: filler recall and speaking-rate error (espeak-ng, en and ko)")
        from bench.fillers import bench_fillers

        bench_fillers(threads, int(getattr(args, "beam", 1)))
    if "llm" in only:
        _bench_llm(int(getattr(args, "llm_threads", 1)))
    if "tts" in only:
        _bench_tts(repeat)
    if "embed" in only:
        _bench_embed(threads, bool(getattr(args, "minilm", False)))
    if "turn" in only:
        _bench_turn(repeat)
    if "llm-threads" in only:
        _bench_llm_threads(max(2, threads), max(1, int(getattr(args, "rounds", 3))))
    if "startup" in only:
        _header("LLM start-up: first start, warm start, SIGSEGV -> ready (parley up --role llm)")
        from bench.startup import bench_startup

        bench_startup()


def _header(title: str) -> None:
    print(f"\n== {title}")


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _first_and_total(make: Callable[[], Iterator[Any]]) -> tuple[float, float, list[Any]]:
    started = time.monotonic()
    first = None
    items = []
    for item in make():
        if first is None:
            first = time.monotonic() - started
        items.append(item)
    total = time.monotonic() - started
    return (first if first is not None else total), total, items


# --- STT -----------------------------------------------------------------------------------


def _answer_audio() -> tuple[list[bytes], int]:
    """The answer's sentences as 16 kHz PCM16 (piper's voice; espeak-ng if piper is absent)."""
    try:
        from actors.models.engines.tts_piper import PiperTts

        tts = PiperTts()
        tts.load()
        try:
            pcm = [b"".join(tts.synthesize(s)) for s in ANSWER]
            rate = tts.sample_rate
        finally:
            tts.close()
        voice = "piper en_US-joe-medium"
    except Exception as exc:  # the benchmark should still run where piper is missing
        print(f"(piper unavailable: {exc}; using espeak-ng)")
        from actors.models.engines.tts_espeak import EspeakTts

        esp = EspeakTts("en-us")
        esp.load()
        pcm = [b"".join(esp.synthesize(s)) for s in ANSWER]
        rate = esp.sample_rate
        voice = "espeak-ng en-us"
    out = []
    for p in pcm:
        x = resample(pcm16_to_float(p), rate, 16000)
        out.append((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    print(f"answer: {len(ANSWER)} sentences spoken by {voice}")
    return out, 16000


def _bench_stt(threads: int, repeat: int, beam: int) -> None:
    from actors.models.engines.stt_whisper import WhisperStt

    _header(f"STT: faster-whisper, Whisper base int8, beam {beam}, {threads} threads")
    sentences, rate = _answer_audio()
    pause = bytes(int(PAUSE_S * rate) * 2)
    # A segment is a sentence plus the pause after it (the endpointer needs that silence).
    segments = [s + pause for s in sentences]
    clip = b"".join(segments)
    audio_s = len(clip) / 2 / rate
    stt = WhisperStt(cpu_threads=threads, beam_size=beam)
    started = time.monotonic()
    stt.load()
    print(
        f"load {time.monotonic() - started:.2f} s; clip {audio_s:.1f} s in {len(segments)} segments"
    )

    seg_times: list[list[float]] = [[] for _ in segments]
    after_speech: list[float] = []
    whole_times: list[float] = []
    text_seg = text_whole = ""
    for _ in range(repeat):
        heard = ""
        end_of_audio = 0.0  # when each segment has been spoken (audio timeline)
        ready = 0.0  # when the decoder is free again
        for i, seg in enumerate(segments):
            end_of_audio += len(seg) / 2 / rate
            t = time.monotonic()
            res = stt.transcribe(seg, rate, "en", prompt=heard)
            took = time.monotonic() - t
            seg_times[i].append(took)
            heard = f"{heard} {res.text}".strip()
            # Decoding starts once the segment has been spoken and the decoder is free.
            ready = max(ready, end_of_audio) + took
        after_speech.append(ready - end_of_audio)
        text_seg = heard
        t = time.monotonic()
        text_whole = stt.transcribe(clip, rate, "en").text
        whole_times.append(time.monotonic() - t)

    for i, (seg, times) in enumerate(zip(segments, seg_times, strict=True)):
        dur = len(seg) / 2 / rate
        m = _median(times)
        print(f"  segment {i + 1}: {dur:.1f} s audio, decode {m:.2f} s (RTF {m / dur:.2f})")
    last = _median(seg_times[-1])
    print(
        f"segmented: last segment decode {last:.2f} s; transcript ready "
        f"{_median(after_speech):.2f} s after the end of speech"
    )
    w = _median(whole_times)
    print(f"whole clip at once: {w:.2f} s (RTF {w / audio_s:.2f}) — the wait without streaming")
    print(f"  segmented text: {text_seg}")
    print(f"  whole text:     {text_whole}")


# --- LLM -----------------------------------------------------------------------------------


def _bench_llm(threads: int) -> None:
    from actors.models.engines.llm_qwen import QwenLlm
    from bus.jobs import Exchange, LlmJob

    _header(f"LLM: Qwen2.5-Coder-1.5B-Instruct Q4_K_M on llama.cpp, {threads} threads")
    llm = QwenLlm(n_threads=threads)
    started = time.monotonic()
    llm.load()
    print(
        f"load {time.monotonic() - started:.1f} s ({llm.start_kind} start: "
        f"{llm.load_stats['prefix_tokens_evaluated']:.0f} prompt-prefix tokens evaluated, "
        f"{llm.load_stats['prefixes_restored']:.0f} prefixes restored from disk)"
    )
    context = [
        "Resume: 5 years backend at a fintech; built a payments API in Go serving 2k req/s.",
        "Resume: led the MySQL to PostgreSQL migration; on-call lead for 2 years.",
        "Job posting: senior backend engineer, distributed systems, Kafka, PostgreSQL.",
    ]
    h1 = [
        Exchange(
            "Tell me about yourself.",
            "I am a backend engineer with five years in payments, mostly Go and Postgres.",
        )
    ]
    h2 = [
        *h1,
        Exchange(
            "What was the hardest outage you handled?",
            "A Kafka consumer lag incident; I rebalanced partitions and added alerts.",
        ),
    ]

    def base(**kw: Any) -> LlmJob:
        fields: dict[str, Any] = {
            "session_id": "bench",
            "language": "en",
            "role": "senior backend engineer",
            "difficulty": "senior",
        }
        return LlmJob(**(fields | kw))

    def generate(label: str, job: LlmJob) -> None:
        first, total, sentences = _first_and_total(lambda: llm.generate(job, threading.Event()))
        st = llm.last_stats
        decode = st["generated_tokens"] - 1
        rate = decode / max(st["total_s"] - st["ttft_s"], 1e-6) if decode > 0 else float("nan")
        print(
            f"{label}: prompt {st['prompt_tokens']:.0f} tok ({st['reused_tokens']:.0f} reused), "
            f"TTFT {st['ttft_s']:.2f} s, first sentence {first:.2f} s, "
            f"{st['generated_tokens']:.0f} tok in {total:.2f} s, decode {rate:.1f} tok/s"
        )
        print(f"    -> {' '.join(sentences) or '(nothing)'}")

    generate(
        "question, turn 2 (new session)",
        base(
            job_id="b:2:llm", task="question", context=context, history=h1, asked=[h1[0].question]
        ),
    )
    generate(
        "question, turn 3 (same session)",
        base(
            job_id="b:3:llm",
            task="question",
            context=context,
            history=h2,
            asked=[h.question for h in h2],
        ),
    )
    generate(
        "question in Korean (new session)",
        base(
            job_id="k:1:llm",
            session_id="bench-ko",
            language="ko",
            task="question",
            role="시니어 백엔드 개발자",
            asked=["자기소개 부탁드립니다."],
        ),
    )
    generate(
        "follow-up quoting a vague answer",
        base(
            job_id="b:3:fu",
            task="followup",
            question=h2[-1].question,
            answer="It was a tough week but we fixed it as a team in the end.",
            anchor="we fixed it as a team",
            term="actions",
        ),
    )
    started = time.monotonic()
    data = llm.assess(
        base(job_id="b:3:as", task="assess", question=h2[-1].question, answer=h2[-1].answer)
    )
    st = llm.last_stats
    print(
        f"assess: {time.monotonic() - started:.1f} s, prompt {st['prompt_tokens']:.0f} tok, "
        f"{st['generated_tokens']:.0f} tok generated (JSON-schema constrained)"
    )
    print(f"    -> {data}")


# --- TTS -----------------------------------------------------------------------------------


TTS_TEXTS = {
    "en": [
        "Thanks.",
        "Tell me about a project you are proud of.",
        "What was the hardest outage you handled, and what did you change afterwards?",
    ],
    "ko": [
        "감사합니다.",
        "가장 자랑스러운 프로젝트에 대해 말씀해 주세요.",
        "가장 어려웠던 장애는 무엇이었고, 그 뒤에 무엇을 바꾸셨나요?",
    ],
}


def _bench_voice(label: str, engine: Any, texts: list[str], repeat: int) -> None:
    for text in texts:
        firsts, rtfs = [], []
        seconds = 0.0

        def make(t: str = text) -> Iterator[bytes]:
            return iter(engine.synthesize(t))

        for _ in range(repeat):
            first, total, chunks = _first_and_total(make)
            seconds = sum(len(c) for c in chunks) / 2 / engine.sample_rate
            firsts.append(first)
            rtfs.append(total / seconds if seconds else float("nan"))
        print(
            f"  {label} {text[:40]!r}: first chunk {_median(firsts) * 1000:.0f} ms, "
            f"{seconds:.1f} s audio, RTF {_median(rtfs):.3f}"
        )


def _piper_per_process(repeat: int) -> None:
    from actors.models import assets

    model, config = assets.piper_voice()
    firsts = []
    for _ in range(repeat):
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "piper", "-m", str(model), "-c", str(config), "--output-raw"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(TTS_TEXTS["en"][1].encode() + b"\n")
        proc.stdin.close()
        proc.stdout.read(2)  # first audio bytes
        firsts.append(time.monotonic() - started)
        proc.stdout.read()
        proc.stdout.close()
        proc.wait()
    print(
        f"  piper, one process per utterance: first audio {_median(firsts) * 1000:.0f} ms "
        f"(why the engine keeps one child alive)"
    )


def _bench_tts(repeat: int) -> None:
    from actors.models.engines.tts_espeak import EspeakTts
    from actors.models.engines.tts_piper import PiperTts

    _header("TTS")
    piper = PiperTts()
    started = time.monotonic()
    piper.load()
    print(
        f"piper child start + warm-up {time.monotonic() - started:.2f} s ({piper.sample_rate} Hz)"
    )
    try:
        _bench_voice("piper en", piper, TTS_TEXTS["en"], repeat)
    finally:
        piper.close()
    _piper_per_process(min(repeat, 2))
    esp = EspeakTts("ko")
    esp.load()
    print(f"espeak-ng ko ({esp.sample_rate} Hz)")
    _bench_voice("espeak ko", esp, TTS_TEXTS["ko"], repeat)


# --- embeddings ----------------------------------------------------------------------------


def _bench_embedder(engine: Any) -> None:
    started = time.monotonic()
    engine.load()
    load = time.monotonic() - started
    rng = np.random.default_rng(0)
    words = (
        "backend payments migration latency postgres kafka team outage metrics "
        "customer design review 결제 서비스 지연 시간 개선 팀 장애 배포"
    ).split()
    passages = [" ".join(rng.choice(words, size=40)) for _ in range(64)]
    engine.embed_passages(passages[:2])  # warm-up
    started = time.monotonic()
    engine.embed_passages(passages)
    batch = time.monotonic() - started
    singles = []
    for i in range(20):
        t = time.monotonic()
        engine.embed_queries([f"how did you reduce latency {i}"])
        singles.append(time.monotonic() - t)
    print(
        f"{engine.name}: load {load:.2f} s, {len(passages) / batch:.0f} passages/s "
        f"(40 words each, batch of {len(passages)}), one query {_median(singles) * 1000:.1f} ms"
    )


def _bench_embed(threads: int, minilm: bool) -> None:
    from actors.models.engines.embed_e5 import E5Embedder

    _header("Embeddings")
    _bench_embedder(E5Embedder(num_threads=threads))
    if minilm:
        from actors.models.engines.embed_minilm import MiniLmEmbedder

        _bench_embedder(MiniLmEmbedder(threads=threads))


# --- end of turn -------------------------------------------------------------------------


def _bench_turn(repeat: int) -> None:
    from actors.models.engines.turn_smart import SmartTurn
    from bench.turns import answer_set

    _header("End of turn: Smart Turn v3.2 (ONNX, onnxruntime, 1 thread)")
    model = SmartTurn(threads=1)
    started = time.monotonic()
    model.load()
    print(f"load {time.monotonic() - started:.2f} s")
    rng = np.random.default_rng(0)
    for secs in (2.0, 8.0):
        pcm = (rng.standard_normal(int(secs * 16000)) * 2000).astype("<i2").tobytes()
        model.probability(pcm)  # warm
        times = []
        for _ in range(max(10, repeat * 5)):
            t = time.monotonic()
            model.probability(pcm)
            times.append(time.monotonic() - t)
        times.sort()
        print(
            f"inference on {secs:.0f} s of audio: median {_median(times) * 1000:.0f} ms, "
            f"p95 {times[int(len(times) * 0.95) - 1] * 1000:.0f} ms (n={len(times)})"
        )
    quiet = bytes(2 * 3200)  # 200 ms: when the session first asks
    for lang, voice in (("en", "espeak"), ("en", "piper"), ("ko", "espeak")):
        try:
            whole = answer_set(paused=False, languages=(lang,), voice=voice)
            paused = answer_set(paused=True, languages=(lang,), voice=voice)
        except Exception as exc:  # piper missing: the others still run
            print(f"{lang} ({voice}): unavailable: {exc}")
            continue
        done = [model.probability(a.pcm + quiet) for a in whole]
        cut = [
            model.probability(a.pcm[: int((a.pause_at_s or 0) * 16000) * 2] + quiet) for a in paused
        ]
        print(
            f"{lang}: called finished: whole answers {sum(p >= 0.5 for p in done)} of "
            f"{len(done)}, answers stopped mid-sentence {sum(p >= 0.5 for p in cut)} of "
            f"{len(cut)} ({voice} voice)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])


def _bench_llm_threads(threads: int, rounds: int) -> None:
    """llama.cpp with 1 thread against ``threads``, A B A B on the same machine state.

    ggml's thread pool waits at a barrier after every graph node, spinning: when another
    process wants a core (STT, TTS, the session, a second interview) one of its threads is
    descheduled and every barrier waits for it. This prints what that costs here."""
    from llama_cpp import Llama

    from actors.models.assets import qwen_gguf_path

    _header(f"LLM threads: 1 against {threads}, {rounds} alternating rounds")
    path = str(qwen_gguf_path())
    models = {
        n: Llama(
            model_path=path, n_ctx=1024, n_threads=n, n_threads_batch=n, n_batch=256, verbose=False
        )
        for n in (1, threads)
    }
    prompt = " ".join(ANSWER) * 12
    figures: dict[int, list[tuple[float, float]]] = {n: [] for n in models}
    for rnd in range(rounds):
        for n, llm in models.items():
            llm.reset()  # type: ignore[no-untyped-call]  # llama-cpp-python leaves it untyped
            tokens = llm.tokenize(prompt.encode())[:300]
            t = time.perf_counter()
            llm.eval(tokens)
            prefill = len(tokens) / (time.perf_counter() - t)
            t = time.perf_counter()
            for _ in range(32):
                llm.eval([llm.sample(temp=0.0)])
            decode = 32 / (time.perf_counter() - t)
            figures[n].append((prefill, decode))
            print(
                f"  round {rnd + 1} {n} thread(s): prefill {prefill:5.1f} tok/s, decode "
                f"{decode:5.1f} tok/s (load average {os.getloadavg()[0]:.1f})"
            )
    for n, rows in figures.items():
        print(
            f"  median {n} thread(s): prefill {_median([r[0] for r in rows]):.1f} tok/s, "
            f"decode {_median([r[1] for r in rows]):.1f} tok/s"
        )
