"""The whole state of one interview session, as msgspec structs.

:meth:`SessionCore.snapshot` is ``msgspec.msgpack.encode(state)``; restoring decodes it
back into an equal :class:`SessionState`. Everything here is bounded: lists are capped
by the plan (questions, follow-ups) or by config, audio buffers by byte limits.

Times are seconds of the core's own clock (``SessionState.clock``), which advances by the
differences of the shell's ``now`` values, so a snapshot restored on another node (another
monotonic clock) keeps every deadline meaningful.
"""

from __future__ import annotations

__all__ = [
    "Analysis",
    "AnswerSource",
    "Assessment",
    "AudioChunk",
    "Counters",
    "Current",
    "Listen",
    "Liveness",
    "OnAir",
    "PendingJob",
    "Phase",
    "Prepared",
    "Segment",
    "Sentence",
    "SessionState",
    "Settings",
    "TurnRecord",
]

from typing import Any, Literal

import msgspec

from actors.interview.documents import Documents
from actors.session.endpointing import Endpointer
from actors.session.plan import Anchor
from bus.events import Language, QuestionKind
from bus.jobs import Exchange
from bus.subjects import JobKind

Phase = Literal[
    "idle", "greeting", "asking", "listening", "thinking", "closing", "reporting", "finished"
]
AnswerSource = Literal["speech", "text"]
#: what is on air: a question of this kind, or "" while only the acknowledgment is known
AirKind = QuestionKind | Literal[""]
#: what comes after an acknowledgment: "" (nothing planned), the next main question, a
#: follow-up, or the closing
AirPlan = Literal["", "next", "followup", "closing"]
#: what a live job's result is for (routes it in :mod:`actors.session.routing`)
Purpose = Literal[
    "ingest",
    "search",
    "match",
    "analyse",
    "claims",
    "question",
    "followup",
    "tts",
    "stt",
    "assess",
    "prefill",
    "outline",
]


class Settings(msgspec.Struct, kw_only=True):
    role: str
    language: Language
    difficulty: str
    total: int
    query: str = ""
    key_terms: list[str] = []
    practise: str = ""
    """A question to ask again as the first main question (the page's "practise again")."""
    """The job posting's key terms (technologies, must-haves), for the delivery report."""


class Assessment(msgspec.Struct, frozen=True, kw_only=True):
    """Rubric scores (1–5) for one answer. ``fallback`` marks a heuristic estimate made
    when the LLM assessment failed or timed out."""

    scores: dict[str, float]
    overall: float
    strengths: list[str] = []
    improvements: list[str] = []
    feedback: str = ""
    evidence: list[str] = []
    fallback: bool = False


class Analysis(msgspec.Struct, frozen=True, kw_only=True):
    """What the embedding model made of one answer (an ``analyse`` job).

    ``sentences``: the answer cut into sentences (and bracketed notes); ``grader``: the
    indices of those addressed to whoever scores the interview rather than answering (by
    meaning or by the word list); ``similarity``: how close the answer (without them) is to
    its question or the résumé line it is about (cosine; ``None``: not measured);
    ``on_topic``: at or above the core's threshold (``CoreConfig.relevance_similarity``)."""

    sentences: list[str] = []
    grader: list[int] = []
    similarity: float | None = None
    on_topic: bool = True

    def clean(self, answer: str) -> str:
        """``answer`` without its sentences addressed to the grader."""
        if not self.grader or not self.sentences:
            return answer
        drop = set(self.grader)
        return " ".join(s for i, s in enumerate(self.sentences) if i not in drop)

    def grader_text(self) -> list[str]:
        """The sentences addressed to the grader, in order."""
        return [self.sentences[i] for i in self.grader if 0 <= i < len(self.sentences)]


class TurnRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One answered question: what :class:`~actors.session.commands.PersistTurn` carries.
    Upsert it by ``(session_id, turn)``: it is emitted again when the latency breakdown
    completes and when the assessment arrives."""

    session_id: str
    turn: int
    index: int
    kind: str
    question: str
    answer: str
    source: AnswerSource
    language: str
    assessment: Assessment | None = None
    latency: dict[str, float] = {}
    anchor: str = ""
    """The plan item the main question was about (its term), "" for a bank question."""
    anchor_line: str = ""
    delivery: dict[str, Any] = {}
    """How the answer was delivered (:func:`actors.session.delivery.analyse`)."""
    outline: str = ""
    """A stronger answer's outline (:mod:`actors.session.outlines`), after the report."""
    analysis: Analysis | None = None
    """What the embedding model made of the answer (``None``: not analysed, or it failed:
    the rules alone decide)."""


class AudioChunk(msgspec.Struct, frozen=True):
    index: int
    sample_rate: int
    pcm: bytes


class Sentence(msgspec.Struct, kw_only=True):
    """One sentence of interviewer speech and its TTS audio not yet sent.

    ``status``: ``wait`` (TTS not requested), ``synth`` (requested), ``done`` / ``failed``
    (terminal; what is buffered is still played in order)."""

    text: str
    shown: bool = True
    job: str = ""
    status: Literal["wait", "synth", "done", "failed"] = "wait"
    chunks: list[AudioChunk] = []
    next_chunk: int = 0
    started_at: float | None = None


class _Stream(msgspec.Struct, kw_only=True):
    """Sentences that an LLM job may still be streaming into."""

    sentences: list[Sentence] = []
    complete: bool = False
    llm_job: str = ""
    next_llm_index: int = 0
    kept: int = 0
    """LLM sentences taken into this stream (a follow-up's may be dropped as off topic)."""
    gap: str = ""
    """A follow-up: what the answer lacked (``actions``, ``result``, ``example``)."""


class Prepared(_Stream, kw_only=True):
    """A question not on air yet: the next main question, prepared while the candidate
    answers the current one, or a follow-up being generated (``kind``)."""

    index: int
    kind: Literal["main", "followup"] = "main"
    source: Literal["llm", "bank", "template"] = "llm"


class OnAir(_Stream, kw_only=True):
    """The interviewer utterance of the current turn.

    ``kind`` is empty while only the acknowledgment is known and ``plan`` says what comes
    after it (``followup``, ``next`` or ``closing``)."""

    turn: int
    kind: AirKind = ""
    index: int = 0
    plan: AirPlan = ""
    cursor: int = 0
    chunk_seq: int = 0
    speaking_sent: bool = False
    playback_end: float = 0.0
    shown_text: str = ""
    responds_to: int = -1
    opened_at: float = 0.0
    last_speech_at: float | None = None
    content_at: float | None = None
    first_audio_at: float | None = None
    content_audio_at: float | None = None
    latency_done: bool = False


class Segment(msgspec.Struct, kw_only=True):
    index: int
    job: str
    status: Literal["pending", "done", "failed"] = "pending"
    text: str = ""
    speech_ms: float = 0.0


class Listen(msgspec.Struct, kw_only=True):
    """The candidate's answer in progress for turn ``turn``."""

    turn: int = 0
    ep: Endpointer = msgspec.field(default_factory=Endpointer)
    segments: list[Segment] = []
    next_segment: int = 0
    awaiting_final: bool = False
    started_at: float | None = None
    last_speech_at: float | None = None
    last_frame_at: float | None = None
    opened_at: float | None = None
    """When listening for this turn began (the question had ended)."""
    pauses: list[tuple[float, float]] = []
    """Silences > 2 s between speech inside the answer: (offset from its start, length)."""
    ended_at: float | None = None
    partial: str = ""
    used_ms: float = 0.0
    """Audio of this answer's utterances already closed (resuming counts against the cap)."""
    check: int = 0
    """The ``CheckTurn`` in flight for this pause (0: none)."""
    next_check_ms: float = 0.0
    """Trailing silence at which the model is asked next (0: at ``turn_check_ms``)."""
    unfinished: bool = False
    """The model judged the current pause unfinished: the long fallback applies."""
    finished: bool = False
    """The model judged the current pause finished; the turn ends once the words agree."""
    resumed_ms: float = 0.0
    """Speech heard since the current pause was first judged (a blip does not end it)."""
    voice_run_ms: float = 0.0
    """Speech in a row heard while not listening (after the answer was settled)."""
    talking_at: float | None = None
    """Last time the candidate was heard talking while not listening."""


class Current(msgspec.Struct, kw_only=True):
    """The question the candidate is answering (as heard)."""

    turn: int = 0
    kind: str = ""
    index: int = 0
    text: str = ""


class PendingJob(msgspec.Struct, frozen=True, kw_only=True):
    """A live job. ``purpose`` routes its result: ingest, search, question, followup, tts,
    stt, assess. ``ref`` is the question index, segment or answer number."""

    kind: JobKind
    purpose: Purpose
    deadline: float
    requested_at: float
    ref: int = 0


class Liveness(msgspec.Struct, kw_only=True):
    attached: bool = False
    detached_at: float | None = 0.0
    paused: bool = False
    ping_id: int = 0
    ping_outstanding: int = 0
    missed: int = 0
    next_ping_at: float = 0.0
    next_snapshot_at: float = 0.0
    finished_at: float | None = None
    deactivated: bool = False


class Counters(msgspec.Struct, kw_only=True):
    """Monotonic counters for metrics (bounded: integers)."""

    audio_dropped_ms: int = 0
    frames_ignored: int = 0
    vad_mismatch: int = 0
    late_results: int = 0
    job_errors: int = 0
    deadlines_expired: int = 0
    duplicate_jobs: int = 0
    tts_dropped_bytes: int = 0
    barge_ins: int = 0
    repeats: int = 0
    short_utterances: int = 0
    missed_pongs: int = 0
    stale_pongs: int = 0
    bank_fallbacks: int = 0
    assess_fallbacks: int = 0
    turn_checks: int = 0
    turn_verdicts: int = 0
    turn_model_ends: int = 0
    stale_verdicts: int = 0


class SessionState(msgspec.Struct, kw_only=True):
    session_id: str
    phase: Phase = "idle"
    clock: float = 0.0
    last_now: float | None = None
    seq: int = 0
    turn: int = 0
    settings: Settings | None = None
    rag_stage: Literal["ingest", "search", "done"] = "ingest"
    context: list[str] = []
    plan: list[Anchor] = []
    """Main question ``i`` is about ``plan[i - 1]`` when there is one (else a bank one)."""
    docs: Documents | None = None
    """The résumé's claims and the posting's requirements (bounded), to revise the plan
    when the models' reading comes in."""
    matches: dict[int, int] = {}
    """Requirement index -> claim index, matched by meaning (the ``match`` job)."""
    preferred: list[int] = []
    """Claim indices the LLM picked as most worth asking about, best first (``claims``)."""
    main_planned: int = 0
    main_asked: int = 0
    followups_used: int = 0
    repeats: int = 0
    asked: list[str] = []
    bank_used: list[str] = []
    history: list[Exchange] = []
    prepared: Prepared | None = None
    followup: Prepared | None = None
    air: OnAir | None = None
    current: Current = msgspec.field(default_factory=Current)
    listen: Listen = msgspec.field(default_factory=Listen)
    answers: list[TurnRecord] = []
    jobs: dict[str, PendingJob] = {}
    audio: bytes = b""
    ended_early: bool = False
    report_sent: bool = False
    live: Liveness = msgspec.field(default_factory=Liveness)
    counters: Counters = msgspec.field(default_factory=Counters)
