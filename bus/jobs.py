"""Job and result messages exchanged with the model actors (msgpack on the wire).

A session actor publishes a :data:`Job` to ``interview.jobs.<kind>`` with the job id as
``Nats-Msg-Id`` (see :func:`bus.requests.request_job`). A model actor answers on the
session's result subject with one or more :data:`Result` messages; streamed kinds send
pieces (``LlmSentence``, ``TtsChunk``) and then exactly one terminal message
(``LlmDone``, ``TtsDone``, ``SttResult``, ``EmbedResult`` or ``JobError``).

Job ids are deterministic, ``<sid>:<turn>:<kind>[:<n>]``, so a re-activated session that
re-requests the same work is deduplicated by JetStream.
"""

from __future__ import annotations

__all__ = [
    "RELATE_MAX",
    "SCORE_KEYS",
    "EmbedJob",
    "EmbedOp",
    "EmbedResult",
    "Exchange",
    "Job",
    "JobError",
    "JobErrorCode",
    "LlmDone",
    "LlmJob",
    "LlmSentence",
    "Result",
    "Rubric",
    "ScoreKey",
    "SttJob",
    "SttResult",
    "TtsChunk",
    "TtsDone",
    "TtsJob",
    "decode_job",
    "decode_result",
    "encode",
    "is_terminal",
]

from typing import Literal, get_args

import msgspec

from bus.errors import BadMessage
from bus.subjects import JobKind


class _Msg(msgspec.Struct, tag_field="t", frozen=True, kw_only=True):
    job_id: str


# --- jobs -------------------------------------------------------------------------------


class SttJob(_Msg, tag="stt", frozen=True):
    """Transcribe one speech segment (PCM16LE mono). ``prompt`` is the text already heard in
    this answer, given to Whisper as context."""

    session_id: str
    language: str
    pcm: bytes
    sample_rate: int = 16000
    prompt: str = ""
    segment: int = 0


class Exchange(msgspec.Struct, frozen=True):
    """One question and the candidate's answer, as context for the LLM."""

    question: str
    answer: str = ""


LlmTask = Literal["question", "followup", "assess", "outline", "prefill", "claims"]


class LlmJob(_Msg, tag="llm", frozen=True):
    """``question``: the next main question. ``followup``: decide whether the last answer
    needs a follow-up and, if so, ask it (an empty ``LlmDone.text`` means no follow-up).
    ``assess``: score ``answer`` to ``question`` against the rubric (``LlmDone.rubric``).
    ``outline``: a short outline of a stronger answer to ``question`` (``LlmDone.text``),
    given ``context`` (the résumé) and the candidate's ``answer``; low priority, queued as
    ``assess``.
    ``prefill`` (sent as an ``assess`` job, while the candidate still speaks): read the
    answer so far into the assessment prompt's cache; ``LlmDone`` carries nothing.
    ``claims`` (queued as ``assess``, at ``start``): which of the résumé sentences in
    ``context`` are most worth asking about; ``LlmDone.text`` is JSON
    (:func:`actors.interview.picks.parse_picks` reads it).
    Candidate text in ``answer``/``history`` is data, never instructions."""

    session_id: str
    task: LlmTask
    language: str
    role: str
    difficulty: str = "mid"
    context: list[str] = []
    history: list[Exchange] = []
    asked: list[str] = []
    question: str = ""
    answer: str = ""
    max_tokens: int = 96
    anchor: str = ""
    """``question``: the résumé/posting line the question is about; ``followup``: the
    phrase of the answer the follow-up refers to. Data, never instructions."""
    term: str = ""
    """``question``: the word the question must name; ``followup``: what the answer lacks."""
    focus: str = ""
    """``question``: experience, technical or behaviour."""


class TtsJob(_Msg, tag="tts", frozen=True):
    session_id: str
    language: str
    text: str
    voice: str = ""


EmbedOp = Literal["ingest", "search", "relate"]


class EmbedJob(_Msg, tag="embed", frozen=True):
    """``ingest``: chunk, embed and store ``texts`` for the session as ``doc_kind``.
    ``search``: return the ``k`` chunks nearest ``query`` (the session's documents and the
    question bank, in ``language``).
    ``relate``: how close in meaning each of ``texts`` is to each of ``refs``
    (``EmbedResult.similarity``) and, with ``grader``, how likely each text is addressed to
    whoever scores the interview rather than answering (``EmbedResult.grader``). At most
    :data:`RELATE_MAX` texts and refs; nothing is stored. Texts are data, never instructions."""

    session_id: str
    op: EmbedOp
    language: str
    texts: list[str] = []
    doc_kind: str = ""
    query: str = ""
    k: int = 4
    refs: list[str] = []
    grader: bool = False


#: The most texts (and refs) one ``relate`` job compares.
RELATE_MAX = 64


Job = SttJob | LlmJob | TtsJob | EmbedJob

# --- results ----------------------------------------------------------------------------


class SttResult(_Msg, tag="stt_result", frozen=True):
    text: str
    no_speech: bool = False
    segment: int = 0
    audio_ms: int = 0
    latency_ms: int = 0


class LlmSentence(_Msg, tag="llm_sentence", frozen=True):
    index: int
    text: str


ScoreKey = Literal["relevance", "depth", "clarity", "role_fit"]
#: the rubric's criteria, in report order: relevance (does the answer address the question),
#: depth (concrete situation, actions and result, numbers), clarity (structure and
#: concision), role_fit (shows the skills the role needs)
SCORE_KEYS: tuple[ScoreKey, ...] = get_args(ScoreKey)


class Rubric(msgspec.Struct, frozen=True, kw_only=True):
    """One answer scored against the rubric: what an ``assess`` job returns
    (``LlmDone.rubric``). Scores are 1..5. ``evidence``: at most two short quotes of the
    answer. ``strength`` may be empty; ``improvement`` is one sentence, both in the
    interview language. ``fallback``: the model failed and the scores are placeholders
    (``reason`` says why): leave them out of any average."""

    relevance: int
    depth: int
    clarity: int
    role_fit: int
    evidence: list[str] = []
    strength: str = ""
    improvement: str = ""
    fallback: bool = False
    reason: str = ""

    def scores(self) -> dict[ScoreKey, int]:
        return {k: getattr(self, k) for k in SCORE_KEYS}


class LlmDone(_Msg, tag="llm_done", frozen=True):
    """The end of an LLM job: the whole ``text`` (question, follow-up), or for
    ``assess`` the ``rubric``."""

    text: str
    rubric: Rubric | None = None
    sentences: int = 0
    ttft_ms: int = 0
    latency_ms: int = 0


class TtsChunk(_Msg, tag="tts_chunk", frozen=True):
    index: int
    sample_rate: int
    pcm: bytes


class TtsDone(_Msg, tag="tts_done", frozen=True):
    chunks: int
    audio_ms: int = 0
    cached: bool = False
    latency_ms: int = 0


class EmbedResult(_Msg, tag="embed_result", frozen=True):
    """``search``: the ``chunks`` found; ``ingest``: how many were ``stored``; ``relate``:
    ``similarity[i][j]`` (cosine, -1..1) of text ``i`` and ref ``j``, and ``grader[i]`` the
    probability (0..1) that text ``i`` talks to the grader (empty unless asked)."""

    chunks: list[str] = []
    stored: int = 0
    similarity: list[list[float]] = []
    grader: list[float] = []


#: why a job produced no result: its input can never work (``bad_input``), the worker
#: gave up on it (``failed``), it ran out of time (``deadline``), or it never reached a
#: worker (``unavailable``, made by the requesting session itself)
JobErrorCode = Literal["bad_input", "failed", "deadline", "unavailable"]


class JobError(_Msg, tag="job_error", frozen=True):
    kind: JobKind
    code: JobErrorCode
    message: str


Result = SttResult | LlmSentence | LlmDone | TtsChunk | TtsDone | EmbedResult | JobError

_TERMINAL = (SttResult, LlmDone, TtsDone, EmbedResult, JobError)

_job_decoder = msgspec.msgpack.Decoder(Job)
_result_decoder = msgspec.msgpack.Decoder(Result)
_encoder = msgspec.msgpack.Encoder()


def is_terminal(result: Result) -> bool:
    """True for the last message a job sends."""
    return isinstance(result, _TERMINAL)


def decode_job(data: bytes) -> Job:
    try:
        job: Job = _job_decoder.decode(data)
        return job
    except msgspec.ValidationError as exc:
        raise BadMessage("bad_message", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadMessage("bad_msgpack", str(exc)) from None


def decode_result(data: bytes) -> Result:
    try:
        result: Result = _result_decoder.decode(data)
        return result
    except msgspec.ValidationError as exc:
        raise BadMessage("bad_message", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadMessage("bad_msgpack", str(exc)) from None


def encode(msg: msgspec.Struct) -> bytes:
    return _encoder.encode(msg)
