"""A scripted fake world for the session core: the shell, the model actors and the
candidate, all deterministic and in memory.

The clock is simulated: ``World.now`` only moves when the test moves it, in steps of one
VAD frame (32 ms of audio). Durations in tests are written in ``MS``.

The world executes every command the way the real shell would: it answers ``RequestJob``
after a per-kind latency (or with an error, or never), records what reaches the client,
and checks the core's invariants after every ``handle()``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from actors.session import (
    CheckTurn,
    ClientInput,
    CoreConfig,
    Deactivate,
    Emit,
    EmitAudio,
    Input,
    JobResultIn,
    PersistReport,
    PersistTurn,
    RequestJob,
    SessionCore,
    Snapshot,
    Tick,
    TurnVerdict,
    VoiceActivity,
)
from actors.session.bank import BuiltinQuestion
from actors.session.phrases import default_phrases
from bus import events as ev
from bus import jobs as jb

MS = 0.001
FRAME = 512
FRAME_S = FRAME / 16000
SID = "sess-0001"

SPEECH_FRAME = b"\x10\x27" * FRAME  # a loud sample repeated
SILENT_FRAME = b"\x00\x00" * FRAME

FOLLOWUP_EN = "Could you give a concrete example? What was the result?"
FOLLOWUP_KO = "구체적인 예를 들어 주시겠어요? 결과는 어땠나요?"

Behaviour = Literal["ok", "error", "silent", "late", "empty"]

BANK = [
    BuiltinQuestion("en-backend-01", "en", "backend", "mid", "apis", "Bank question one?"),
    BuiltinQuestion("en-backend-02", "en", "backend", "mid", "dbs", "Bank question two?"),
    BuiltinQuestion("en-general-01", "en", "general", "mid", "team", "Bank general one?"),
    BuiltinQuestion("ko-backend-01", "ko", "backend", "mid", "apis", "은행 질문 하나입니까?"),
    BuiltinQuestion("ko-general-01", "ko", "general", "mid", "team", "은행 일반 질문입니까?"),
]


@dataclass
class Models:
    """How the fake model actors behave. ``behaviour`` per purpose; ``override`` per job
    id (return a behaviour or None for the default)."""

    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    override: Callable[[str], Behaviour | None] = lambda _jid: None
    delay: Callable[[str], float] = lambda _jid: 0.0
    latency: dict[str, float] = field(
        default_factory=lambda: {
            "stt": 300 * MS,
            "llm": 900 * MS,
            "llm_step": 300 * MS,
            "tts": 120 * MS,
            "tts_step": 40 * MS,
            "embed": 60 * MS,
            "assess": 2000 * MS,
            "turn": 60 * MS,
        }
    )
    followup_text: str | None = None  # None: a default in the job's language
    stt_text: Callable[[jb.SttJob], str] = lambda job: (
        f"we did part {'abcdefgh'[job.segment % 8]} of it."
    )
    stt_rtf: float = 0.2
    tts_chunks: int = 2
    tts_chunk_samples: int = 4000  # 0.25 s at 16 kHz
    assess_data: jb.Rubric | None = None
    relate: Callable[[jb.EmbedJob], jb.EmbedResult] | None = None
    claims: Callable[[jb.LlmJob], str] | None = None
    """The LLM's reply to a ``claims`` job (JSON); None: no picks."""
    """The embedding model's answer to a ``relate`` job; None: no similarities or grader
    probabilities (the rules alone decide)."""
    turn: Callable[[World, CheckTurn], float] | None = None
    """The end-of-turn model: the probability it answers a ``CheckTurn`` with, after
    ``latency["turn"]``. ``None``: no model (the shell ignores ``CheckTurn``)."""

    def of(self, purpose: str, job_id: str) -> Behaviour:
        return self.override(job_id) or self.behaviour.get(purpose, "ok")


def purpose_of(job: jb.Job) -> str:
    if isinstance(job, jb.LlmJob):
        return job.task
    if isinstance(job, jb.EmbedJob):
        return job.op
    return job.__struct_config__.tag  # type: ignore[return-value]


@dataclass
class Candidate:
    """Answers when the core listens: by voice (speech frames) or by typing."""

    mode: Literal["voice", "typed", "mute"] = "voice"
    reaction: float = 400 * MS
    speech: float = 2500 * MS
    inner_pause: float = 500 * MS
    patience: float = 6.0
    typed_text: str = "We worked on the queue service and it went fine for the team."
    typed_answers: tuple[str, ...] = ()
    """Typed answers in turn (the n-th answer is ``typed_answers[n % len]``); empty: every
    answer is ``typed_text``."""


class InvariantError(AssertionError):
    pass


class World:
    def __init__(
        self,
        *,
        config: CoreConfig | None = None,
        models: Models | None = None,
        candidate: Candidate | None = None,
        language: ev.Language = "en",
        role: ev.Role = "backend",
        questions: int = 2,
        resume: str = "",
        posting: str = "",
        restore_every_step: bool = False,
        start_now: float = 1000.0,
        llm_questions: bool = True,
    ) -> None:
        # The mechanics tests drive LLM-written questions; planned/bank ones opt out.
        self.config = msgspec.structs.replace(
            config or CoreConfig(), llm_unplanned_questions=llm_questions
        )
        self.models = models or Models()
        self.candidate = candidate or Candidate()
        self.core = SessionCore.new(SID, self.config, BANK, default_phrases)
        self.now = start_now
        self.restore_every_step = restore_every_step
        self.start = ev.Start(
            role=role,
            language=language,
            questions=questions,
            resume_text=resume,
            job_posting=posting,
        )
        self.events: list[ev.ServerEvent] = []
        self.audio: list[EmitAudio] = []
        self.requests: list[RequestJob] = []
        self.turns: list[PersistTurn] = []
        self.reports: list[dict[str, Any]] = []
        self.snapshots: list[str] = []
        self.deactivated: list[str] = []
        self.late_sent = 0
        self._queue: list[tuple[float, int, jb.Result]] = []
        self.checks: list[CheckTurn] = []
        self._verdicts: list[tuple[float, int, float]] = []  # (at, check, probability)
        self._n = 0
        self._last_seq = 0
        self._answer_at: float | None = None
        self._speaking_until = 0.0
        self._speech_plan: list[tuple[float, float]] = []  # (start, end) of speech spans
        self._spoke_until = 0.0
        self._frames_pending = 0
        self._last_tick = self.now
        self.mic = True
        self.auto_pong = True
        self._pongs: list[tuple[float, int]] = []

    # --- driving ------------------------------------------------------------------

    def feed(self, inp: Input) -> list[Any]:
        before = set(self.core.live_jobs())
        cmds = self.core.handle(inp)
        self._check(cmds, before)
        for c in cmds:
            self._execute(c)
        if self.restore_every_step:
            restored = SessionCore.restore(self.core.snapshot(), self.config, BANK, default_phrases)
            assert restored.state == self.core.state
            self.core = restored
        return cmds

    def client(self, event: ev.ClientEvent) -> list[Any]:
        return self.feed(ClientInput(event, self.now))

    def begin(self) -> None:
        self.client(ev.Attach())
        self.client(self.start)

    def _check(self, cmds: list[Any], before: set[str]) -> None:
        seen: set[str] = set()
        for c in cmds:
            if isinstance(c, Emit):
                if c.event.seq <= self._last_seq:
                    raise InvariantError(f"seq not increasing: {c.event}")
                self._last_seq = c.event.seq
            if isinstance(c, RequestJob):
                jid = c.job.job_id
                if jid in before or jid in seen:
                    raise InvariantError(f"two live jobs with id {jid}")
                seen.add(jid)
        cfg = self.config
        if self.core.audio_queued_ms > cfg.audio_queue_ms + 1:
            raise InvariantError("audio queue over its bound")

    def _execute(self, c: Any) -> None:
        if isinstance(c, Emit):
            self.events.append(c.event)
            self._on_event(c.event)
        elif isinstance(c, EmitAudio):
            self.audio.append(c)
        elif isinstance(c, RequestJob):
            self.requests.append(c)
            self._answer_job(c)
        elif isinstance(c, PersistTurn):
            self.turns.append(c)
        elif isinstance(c, PersistReport):
            self.reports.append(c.report)
        elif isinstance(c, Snapshot):
            self.snapshots.append(c.reason)
        elif isinstance(c, Deactivate):
            self.deactivated.append(c.reason)
        elif isinstance(c, CheckTurn):
            self.checks.append(c)
            if self.models.turn is not None:
                p = self.models.turn(self, c)
                self._verdicts.append((self.now + self.models.latency["turn"], c.check, p))

    def _on_event(self, e: ev.ServerEvent) -> None:
        if isinstance(e, ev.Ping) and self.auto_pong:
            self._pongs.append((self.now + 50 * MS, e.id))

    # --- the fake models ----------------------------------------------------------

    def _push(self, at: float, result: jb.Result) -> None:
        self._n += 1
        heapq.heappush(self._queue, (at, self._n, result))

    def push_result(self, result: jb.Result, delay: float = 0.0) -> None:
        self._push(self.now + delay, result)

    def _answer_job(self, req: RequestJob) -> None:
        job, m = req.job, self.models
        jid = job.job_id
        purpose = purpose_of(job)
        behaviour = m.of(purpose, jid)
        kind = "assess" if purpose == "assess" else req.kind
        t = self.now + m.latency.get(kind, 100 * MS)
        if behaviour == "silent":
            return
        if behaviour == "error":
            self._push(t, jb.JobError(job_id=jid, kind=req.kind, code="failed", message="x"))
            return
        if behaviour == "late":
            t = req.deadline + 500 * MS  # the core gave up on it already
        t += m.delay(jid)
        for dt, result in self._results(job, purpose, behaviour):
            self._push(t + dt, result)

    def _results(
        self, job: jb.Job, purpose: str, behaviour: Behaviour
    ) -> list[tuple[float, jb.Result]]:
        m, jid = self.models, job.job_id
        if isinstance(job, jb.SttJob):
            text = "" if behaviour == "empty" else m.stt_text(job)
            return [
                (
                    len(job.pcm) / 32000 * m.stt_rtf,
                    jb.SttResult(job_id=jid, text=text, no_speech=not text, segment=job.segment),
                )
            ]
        if isinstance(job, jb.TtsJob):
            out: list[tuple[float, jb.Result]] = []
            step = m.latency["tts_step"]
            for i in range(m.tts_chunks):
                pcm = bytes([i % 7 + 1, 0]) * m.tts_chunk_samples
                out.append((i * step, jb.TtsChunk(job_id=jid, index=i, sample_rate=16000, pcm=pcm)))
            out.append((m.tts_chunks * step, jb.TtsDone(job_id=jid, chunks=m.tts_chunks)))
            return out
        if isinstance(job, jb.EmbedJob) and job.op == "relate" and m.relate is not None:
            return [(0.0, m.relate(job))]
        if isinstance(job, jb.EmbedJob):
            chunks = ["Built payment APIs in Go.", "Owns Postgres tuning."]
            return [
                (
                    0.0,
                    jb.EmbedResult(
                        job_id=jid,
                        chunks=chunks if job.op == "search" else [],
                        stored=len(job.texts),
                    ),
                )
            ]
        assert isinstance(job, jb.LlmJob)
        step = m.latency["llm_step"]
        if job.task == "prefill":  # the engine only reads: nothing comes back but "done"
            return [(m.latency["llm_step"], jb.LlmDone(job_id=jid, text=""))]
        if job.task == "claims":
            text = m.claims(job) if m.claims is not None else '{"claims": []}'
            return [(m.latency["assess"], jb.LlmDone(job_id=jid, text=text))]
        if job.task == "assess":
            rubric: jb.Rubric | None = (
                m.assess_data
                if m.assess_data is not None
                else jb.Rubric(
                    relevance=4,
                    depth=3,
                    clarity=4,
                    role_fit=3,
                    strength="Clear example",
                    improvement="Quantify impact",
                )
            )
            if behaviour == "empty":
                rubric = None
            return [(0.0, jb.LlmDone(job_id=jid, text="", rubric=rubric))]
        if job.task == "outline":
            text = "" if behaviour == "empty" else f"- Name the system in: {job.question[:30]}"
            return [(m.latency["assess"], jb.LlmDone(job_id=jid, text=text))]
        if job.task == "followup":
            default = FOLLOWUP_KO if job.language == "ko" else FOLLOWUP_EN
            text = m.followup_text if m.followup_text is not None else default
            text = "" if behaviour == "empty" else text
        else:
            n = len(job.asked) + 1
            lang_q = (
                "질문 {n}번입니다. 어떻게 하셨나요?"
                if job.language == "ko"
                else ("Question {n} is about systems. How did you design it?")
            )
            text = "" if behaviour == "empty" else lang_q.format(n=n)
        sentences = [s for s in text.replace("? ", "?|").replace(". ", ".|").split("|") if s]
        out = [
            (i * step, jb.LlmSentence(job_id=jid, index=i, text=s)) for i, s in enumerate(sentences)
        ]
        out.append(
            (len(sentences) * step, jb.LlmDone(job_id=jid, text=text, sentences=len(sentences)))
        )
        return out

    # --- time ----------------------------------------------------------------------

    def step(self) -> None:
        """One frame of time: candidate audio, due results, VAD every 3 frames, ticks."""
        self.now += FRAME_S
        self._candidate_step()
        if self.mic:
            frame = SPEECH_FRAME if self._is_speaking(self.now) else SILENT_FRAME
            self.core.receive_audio(frame, self.now)
            self._frames_pending += 1
            if self._frames_pending >= 3:
                self.analyze()
        while self._pongs and self._pongs[0][0] <= self.now:
            self.client(ev.Pong(id=self._pongs.pop(0)[1]))
        while self._verdicts and self._verdicts[0][0] <= self.now:
            _, check, p = self._verdicts.pop(0)
            self.feed(TurnVerdict(check, p, self.now))
        while self._queue and self._queue[0][0] <= self.now:
            _, _, result = heapq.heappop(self._queue)
            if not self.core.expects(result.job_id):
                self.late_sent += 1
            self.feed(JobResultIn(result, self.now))
        if self.now - self._last_tick >= 100 * MS:
            self._last_tick = self.now
            self.feed(Tick(self.now))

    def analyze(self) -> None:
        pcm = self.core.audio_to_analyze()
        self._frames_pending = 0
        if not pcm:
            return
        frames = [pcm[i : i + FRAME * 2] for i in range(0, len(pcm), FRAME * 2)]
        probs = [1.0 if any(f) else 0.0 for f in frames]
        self.feed(VoiceActivity(pcm, probs, self.now))

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end:
            self.step()

    def run_until(self, pred: Callable[[World], bool], limit: float = 600.0) -> None:
        end = self.now + limit
        while not pred(self):
            if self.now >= end:
                raise AssertionError(f"timed out in phase {self.core.phase}")
            self.step()

    def finish(self, limit: float = 900.0) -> None:
        self.run_until(lambda w: w.core.phase == "finished", limit)

    # --- the candidate -------------------------------------------------------------

    def _planned_speech(self) -> bool:
        if self._speech_plan:
            self._spoke_until = max(self._spoke_until, *(b for _, b in self._speech_plan))
        self._speech_plan = [(a, b) for a, b in self._speech_plan if b > self.now]
        return bool(self._speech_plan)

    def say(self, spans: list[tuple[float, float]]) -> None:
        """Speak: each span is (offset from now, duration), in seconds."""
        for off, dur in spans:
            self._speech_plan.append((self.now + off, self.now + off + dur))

    def will_speak(self) -> bool:
        """True while some planned speech is still to come (an oracle end-of-turn model)."""
        return any(b > self.now for _, b in self._speech_plan)

    def _is_speaking(self, t: float) -> bool:
        return any(a <= t < b for a, b in self._speech_plan)

    def _candidate_step(self) -> None:
        c = self.candidate
        if self._answer_at is None:
            # Answer whenever the interviewer listens and the candidate is not mid-answer;
            # after having spoken, wait a while (the interviewer may still be deciding).
            if self.core.phase == "listening" and not self._planned_speech():
                self._answer_at = max(self.now + c.reaction, self._spoke_until + c.patience)
            return
        if self.now < self._answer_at:
            return
        self._answer_at = None
        if self.core.phase != "listening" or self._planned_speech():
            return
        if c.mode == "typed":
            n = len(self.core.state.answers)
            text = c.typed_answers[n % len(c.typed_answers)] if c.typed_answers else c.typed_text
            self.client(ev.AnswerText(text=text))
        elif c.mode == "voice":
            half = c.speech / 2
            self.say([(0.0, half), (half + c.inner_pause, half)])

    # --- views ---------------------------------------------------------------------

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def states(self) -> list[str]:
        return [e.state for e in self.of(ev.State)]

    def requested(self, purpose: str) -> list[RequestJob]:
        return [r for r in self.requests if purpose_of(r.job) == purpose]
