"""Turn-taking replay: spoken answers through the session core with the real models.

No servers and no LLM: each answer (espeak-ng speech, 16 kHz) is fed frame by frame to a
:class:`~actors.session.core.SessionCore` that is listening, with the real Silero VAD, the
real end-of-turn model and the real Whisper STT answering its ``CheckTurn`` and STT
requests. Model calls run for real (on this machine's cores); their measured duration is
added on the replay's clock, so the figures are what a live session would see with one
STT worker and an otherwise idle machine. Two sets:

- *finished*: whole answers followed by silence. Measured from the LAST VOICED SAMPLE:
  end of turn decided, STT final transcript.
- *paused*: the same answers with a 1-2 s silence inserted mid-sentence (at the quietest
  point of the speech between 35 % and 70 % of it, so the words before it keep their
  continuing intonation). A turn that ends before the speech after the pause is a
  premature turn end.

Each set runs twice: without the model (the silence rules alone, with the words of each
pause transcribed at once) and with it. Used by ``parley bench e2e --replay``; the
baseline of docs/scaling.md ran this file on the code from before the model.
"""

from __future__ import annotations

__all__ = ["Answer", "TurnResult", "answer_set", "last_voiced_s", "replay", "run_replay"]

import heapq
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from actors.models.engines import EndOfTurnModel, SttEngine
from actors.session import (
    CheckTurn,
    CoreConfig,
    Emit,
    JobResultIn,
    RequestJob,
    SessionCore,
    SessionState,
    Tick,
    TurnVerdict,
    VoiceActivity,
    default_phrases,
)

# (This file also runs unchanged on a checkout from before the end-of-turn model, with
# stand-ins for CheckTurn/TurnVerdict, to measure the baseline on the same machine.)
from actors.session.state import Listen, Settings
from bench.speech import speak_pcm16
from bus.events import Transcript
from bus.jobs import SttJob, SttResult
from parley.client import last_voiced_s

RATE = 16000
FRAME = 512
FRAME_S = FRAME / RATE

ENGLISH = [
    "In my last project I built a payment service in Python that handled ten thousand "
    "requests per second.",
    "The hardest bug I fixed was a race condition in our job queue that lost messages.",
    "I usually start by writing a small test that reproduces the problem.",
    "We moved the reports to a nightly batch job and the database load fell by half.",
    "When the team disagrees I ask everyone to write down the trade offs first.",
    "I would improve the monitoring, because we found most outages from customer emails.",
    "My role was to design the API and to review every change to the schema.",
    "We chose Postgres over a document store because our data was very relational.",
    "The cache cut the median latency from two hundred to forty milliseconds.",
    "Next time I would split the service earlier and give each team its own database.",
]
KOREAN = [
    "저는 지난 프로젝트에서 파이썬으로 결제 서비스를 만들었고 초당 만 건의 요청을 처리했습니다.",
    "가장 어려웠던 버그는 작업 큐에서 메시지가 사라지는 경쟁 조건이었습니다.",
    "팀에서 의견이 다르면 먼저 각자 장단점을 적어 보자고 제안합니다.",
]
VOICES = {"en": "en-us", "ko": "ko"}


@dataclass
class Answer:
    name: str
    language: str
    pcm: bytes
    voiced_end_s: float
    """Time of the last voiced sample in ``pcm``."""
    pause_at_s: float | None = None
    pause_s: float = 0.0


@dataclass
class TurnResult:
    answer: Answer
    ended_s: float | None = None
    """When the core decided the turn was over (None: never, within the replay)."""
    final_s: float | None = None
    """When the final transcript was emitted."""
    reason: str = ""
    checks: int = 0
    text: str = ""

    @property
    def premature(self) -> bool:
        return self.ended_s is not None and self.ended_s < self.answer.voiced_end_s

    def after_speech(self, t: float | None) -> float | None:
        return None if t is None else t - self.answer.voiced_end_s


def _trim(pcm: bytes) -> bytes:
    """Drop the synthesiser's trailing silence (the listener's silence is added later)."""
    return pcm[: int(last_voiced_s(pcm) * RATE) * 2]


def _insert_pause(pcm: bytes, pause_s: float) -> tuple[bytes, float]:
    a = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    win = RATE // 50  # 20 ms
    lo, hi = int(a.size * 0.35) // win, int(a.size * 0.70) // win
    energy = [float(np.mean(a[i * win : (i + 1) * win] ** 2)) for i in range(lo, hi)]
    at = (lo + int(np.argmin(energy))) * win + win // 2
    gap = np.zeros(int(pause_s * RATE), dtype="<i2").tobytes()
    return pcm[: at * 2] + gap + pcm[at * 2 :], at / RATE


class _Piper:
    """English answers in piper's voice (en_US-joe-medium, resampled to 16 kHz)."""

    def __init__(self) -> None:
        from actors.models.engines.tts_piper import PiperTts

        self.tts = PiperTts()
        self.tts.load()

    def say(self, text: str) -> bytes:
        from actors.models.audio import pcm16_to_float, resample

        pcm = b"".join(self.tts.synthesize(text))
        x = resample(pcm16_to_float(pcm), self.tts.sample_rate, RATE)
        return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


_piper: _Piper | None = None


def _speak(text: str, lang: str, voice: str) -> bytes:
    global _piper
    if voice == "piper" and lang == "en":
        if _piper is None:
            _piper = _Piper()
        return _piper.say(text)
    return speak_pcm16(text, voice=VOICES[lang])


def answer_set(
    *,
    paused: bool,
    languages: tuple[str, ...] = ("en", "ko"),
    limit: int = 10,
    voice: str = "espeak",
    texts: list[str] | None = None,
) -> list[Answer]:
    """English (and Korean) answers spoken by espeak-ng (``voice="piper"``: English in
    piper's voice); ``paused``: with a 1.0-2.0 s pause inserted mid-sentence (the pause
    length cycles through 1.0, 1.5, 2.0 s)."""
    out: list[Answer] = []
    for lang in languages:
        for i, text in enumerate(texts or (ENGLISH if lang == "en" else KOREAN)[:limit]):
            pcm = _trim(_speak(text, lang, voice))
            name = f"{lang}{i + 1}"
            if paused:
                pause = (1.0, 1.5, 2.0)[i % 3]
                pcm, at = _insert_pause(pcm, pause)
                out.append(Answer(name, lang, pcm, last_voiced_s(pcm), at, pause))
            else:
                out.append(Answer(name, lang, pcm, last_voiced_s(pcm)))
    return out


@dataclass(order=True)
class _Due:
    at: float
    n: int
    inp: Any = field(compare=False)


def replay(
    answer: Answer,
    *,
    vad: Any,
    stt: SttEngine | None,
    turn: EndOfTurnModel | None,
    config: CoreConfig | None = None,
    tail_s: float = 4.0,
    noise_seed: int = 0,
) -> TurnResult:
    """Feed one answer (plus ``tail_s`` of quiet) to a listening core; see module doc.
    ``vad`` is a fresh :class:`~actors.models.engines.VoiceDetector`; ``stt`` None
    answers every STT job at once with a placeholder text."""
    cfg = config or CoreConfig()
    state = SessionState(
        session_id="bench-0001",
        phase="listening",
        turn=1,
        settings=Settings(
            role="backend",
            language=answer.language,  # type: ignore[arg-type]
            difficulty="mid",
            total=3,
        ),
        listen=Listen(turn=1),
    )
    core = SessionCore(state, cfg, [], default_phrases)
    rng = np.random.default_rng(noise_seed)
    audio = np.frombuffer(answer.pcm + bytes(int(tail_s * RATE) * 2), dtype="<i2")
    noisy = (
        np.clip(
            audio.astype(np.int32) + rng.normal(0, 8, audio.size).astype(np.int32), -32768, 32767
        )
        .astype("<i2")
        .tobytes()
    )  # a quiet room, not digital zero
    heard = bytearray()
    due: list[_Due] = []
    seq = 0
    stt_free = 0.0
    result = TurnResult(answer)
    last_tick = 0.0

    def run(cmds: list[Any], now: float) -> None:
        nonlocal seq, stt_free
        for c in cmds:
            if isinstance(c, CheckTurn) and turn is not None:
                result.checks += 1
                skip = int(c.skip_ms * 32) & ~1
                want = int(min(c.audio_ms, 8000.0) * 32) & ~1
                end = max(0, len(heard) - skip)
                t0 = time.perf_counter()
                p = turn.probability(bytes(heard[max(0, end - want) : end]))
                seq += 1
                heapq.heappush(
                    due, _Due(now + time.perf_counter() - t0, seq, TurnVerdict(c.check, p, 0.0))
                )
            elif isinstance(c, RequestJob) and isinstance(c.job, SttJob):
                job = c.job
                t0 = time.perf_counter()
                text = (
                    stt.transcribe(job.pcm, job.sample_rate, job.language, job.prompt).text
                    if stt is not None
                    else f"part {job.segment}."
                )
                took = time.perf_counter() - t0
                stt_free = max(stt_free, now) + took  # one STT worker, in order
                seq += 1
                heapq.heappush(
                    due,
                    _Due(
                        stt_free,
                        seq,
                        JobResultIn(
                            SttResult(job_id=job.job_id, text=text, segment=job.segment), 0.0
                        ),
                    ),
                )
            elif isinstance(c, Emit) and isinstance(c.event, Transcript) and c.event.final:
                if result.final_s is None:
                    result.final_s, result.text = now, c.event.text

    def observe(now: float) -> None:
        if result.ended_s is None and core.state.listen.ended_at is not None:
            result.ended_s = now
        if result.ended_s is None and core.phase != "listening":
            result.ended_s = now

    def feed(inp: Any, now: float) -> None:
        inp = msgspec.structs.replace(inp, now=now)
        run(core.handle(inp), now)
        observe(now)

    n_frames = len(noisy) // (FRAME * 2)
    for i in range(n_frames):
        now = (i + 1) * FRAME_S
        while due and due[0].at <= now:
            d = heapq.heappop(due)
            feed(d.inp, d.at)
        frame = noisy[i * FRAME * 2 : (i + 1) * FRAME * 2]
        core.receive_audio(frame, now)
        pcm = core.audio_to_analyze()
        probs = vad.process(pcm)
        heard += pcm
        feed(VoiceActivity(pcm, probs, now), now)
        if now - last_tick >= 0.1:
            last_tick = now
            feed(Tick(now), now)
        if result.final_s is not None or (result.premature and result.ended_s is not None):
            break
    while due and result.final_s is None:
        d = heapq.heappop(due)
        feed(d.inp, d.at)
    counters = core.counters
    result.reason = "model" if counters.turn_model_ends else "silence"
    return result


def _fmt(x: float | None) -> str:
    return "   -  " if x is None else f"{x * 1000:6.0f}"


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def run_replay(
    *,
    languages: tuple[str, ...] = ("en", "ko"),
    limit: int = 10,
    stt_real: bool = True,
    threads: int = 2,
    voice: str = "espeak",
) -> None:
    """Print the before/after tables (see module docstring)."""
    from actors.models.engines.vad_silero import SileroVoiceDetector
    from actors.models.registry import build_end_of_turn

    stt: SttEngine | None = None
    if stt_real:
        from actors.models.engines.stt_whisper import WhisperStt

        stt = WhisperStt(cpu_threads=threads, beam_size=1)
        stt.load()
    model = build_end_of_turn("real")
    if model is None:
        raise SystemExit("the end-of-turn model is turned off (PARLEY_END_OF_TURN)")
    model.load()
    finished = answer_set(paused=False, languages=languages, limit=limit, voice=voice)
    paused = answer_set(paused=True, languages=languages, limit=limit, voice=voice)
    print(
        f"replay: {len(finished)} finished + {len(paused)} paused answers ({voice}), "
        f"real Silero VAD, {model.name}, STT "
        f"{'Whisper base int8 beam 1' if stt else 'placeholder'}; "
        "times from the last voiced sample"
    )
    for label, eot in (
        ("silence rules only (no end-of-turn model)", None),
        ("with the end-of-turn model", model),
    ):
        print(f"\n== {label}")
        print("answer  speech  ->end  ->final  how      checks  transcript")
        rows: dict[str, list[TurnResult]] = {}
        for a in finished:
            r = replay(a, vad=SileroVoiceDetector(), stt=stt, turn=eot)
            rows.setdefault(a.language, []).append(r)
            print(
                f"{a.name:<6} {a.voiced_end_s:5.1f}s {_fmt(r.after_speech(r.ended_s))} "
                f"{_fmt(r.after_speech(r.final_s))}  {r.reason:<8} {r.checks:>3}  "
                f"{r.text[:60]}"
            )
        for lang, rs in rows.items():
            early = [r.answer.name for r in rs if r.premature]
            print(
                f"  {lang}: finished answers cut before their end: {len(early)} of {len(rs)}"
                + (f" ({', '.join(early)})" if early else "")
            )
            rs = [r for r in rs if not r.premature]
            ends = [x for r in rs if (x := r.after_speech(r.ended_s)) is not None]
            finals = [x for r in rs if (x := r.after_speech(r.final_s)) is not None]
            if ends and finals:
                print(
                    f"  {lang}: end of turn decided p50 {statistics.median(ends) * 1000:.0f} ms"
                    f" p95 {_pct(ends, 0.95) * 1000:.0f} ms; STT final p50 "
                    f"{statistics.median(finals) * 1000:.0f} ms p95 "
                    f"{_pct(finals, 0.95) * 1000:.0f} ms (n={len(ends)})"
                )
        for lang in languages:
            pset = [a for a in paused if a.language == lang]
            cut = [
                a.name
                for a in pset
                if replay(a, vad=SileroVoiceDetector(), stt=stt, turn=eot).premature
            ]
            print(
                f"  {lang}: premature turn ends on the paused set: {len(cut)} of {len(pset)}"
                + (f" ({', '.join(cut)})" if cut else "")
            )
