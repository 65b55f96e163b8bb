"""Prompt rendering: an :class:`~bus.jobs.LlmJob` becomes the turns the LLM reads.

Engine-independent and pure. :func:`render_chat` gives the conversation as (role, text)
turns; :func:`render_prompt` renders it as one ChatML string for the embedded llama.cpp
engine, :func:`render_messages` as OpenAI chat messages for a remote server.

The order of the parts is chosen for KV-cache reuse: static instructions and examples,
session line, history, context, task. Candidate text (answers, history, retrieved chunks,
even the role) is wrapped in tags as data, with angle brackets neutralised so it can neither
close our tags nor spell a ChatML control token.
"""

from __future__ import annotations

__all__ = [
    "Chat",
    "assess_prefix",
    "dialog_prefix",
    "render_chat",
    "render_messages",
    "render_prompt",
    "short_prefix",
]

from dataclasses import dataclass

from actors.interview.language import lang_of
from actors.interview.text import neutralize
from actors.models.engines import EngineError
from actors.models.llm.prompts import (
    ANCHOR_SHOT,
    ANCHOR_TASK,
    ANSWER_CHARS,
    ASSESS_SYSTEM,
    CONTEXT_CHARS,
    DIALOG_SYSTEM,
    FOCUS,
    FOLLOWUP_TASK,
    GAP_TEXT,
    HISTORY_ANSWER_CHARS,
    LEVELS,
    MAX_ASKED,
    MAX_CONTEXT,
    MAX_HISTORY,
    QUESTION_CHARS,
    QUESTION_TASK,
    QUOTE_SHOT,
    QUOTE_TASK,
    ROLE_CHARS,
    SHOTS,
)
from bus.jobs import Exchange, LlmJob

Turn = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Chat:
    """A rendered conversation: ``turns`` as (role, text) with role ``system``, ``user``
    or ``assistant``, ending with a user turn."""

    turns: list[Turn]


def _level(difficulty: str) -> str:
    d = difficulty.strip().lower()
    return d if d in LEVELS else "mid"


def _dialog_turns(lang: str) -> list[Turn]:
    """System prompt and worked examples: identical for every session in ``lang``."""
    out: list[Turn] = [("system", DIALOG_SYSTEM[lang])]
    for user, reply in SHOTS[lang]:
        task = FOLLOWUP_TASK[lang] if "<answer>" in user else QUESTION_TASK[lang]
        out += [("user", user + task), ("assistant", reply)]
    return out


def _short_turns(lang: str) -> list[Turn]:
    """System prompt and the question examples only: the prefix of the anchored question
    and the quoted follow-up (with the follow-up examples the model copied their wording)."""
    out: list[Turn] = [("system", DIALOG_SYSTEM[lang])]
    for user, reply in SHOTS[lang][:2]:
        out += [("user", user + QUESTION_TASK[lang]), ("assistant", reply)]
    user, focus, term, reply = ANCHOR_SHOT[lang]
    task = ANCHOR_TASK[lang].format(focus=FOCUS[focus], term=term)
    out += [("user", user + task), ("assistant", reply)]
    user, gap, reply = QUOTE_SHOT[lang]
    out += [("user", user + QUOTE_TASK[lang].format(missing=GAP_TEXT[gap])), ("assistant", reply)]
    return out


def _session_line(job: LlmJob) -> str:
    return (
        f"Role: <role>{neutralize(job.role, ROLE_CHARS)}</role>, level {_level(job.difficulty)}.\n"
    )


def _history_block(history: list[Exchange]) -> str:
    recent = history[-MAX_HISTORY:]
    if not recent:
        return ""
    lines = ["<history>"]
    for ex in recent:
        lines.append(f"Q: {neutralize(ex.question, QUESTION_CHARS)}")
        lines.append(f"A: {neutralize(ex.answer, HISTORY_ANSWER_CHARS) or '(no answer)'}")
    lines.append("</history>\n")
    return "\n".join(lines)


def _context_block(context: list[str]) -> str:
    chunks = [neutralize(c, CONTEXT_CHARS) for c in context[:MAX_CONTEXT] if c.strip()]
    if not chunks:
        return ""
    return "<context>\n" + "\n".join(f"- {c}" for c in chunks) + "\n</context>\n"


def _asked_block(job: LlmJob) -> str:
    in_history = {ex.question for ex in job.history[-MAX_HISTORY:]}
    earlier = [q for q in job.asked if q not in in_history][-MAX_ASKED:]
    if not earlier:
        return ""
    return "Questions already asked: " + " | ".join(neutralize(q, 120) for q in earlier) + "\n"


def _assess_user(job: LlmJob) -> str:
    return (
        _session_line(job)
        + f"<question>{neutralize(job.question, QUESTION_CHARS * 2)}</question>\n"
        + f"<answer>{neutralize(job.answer, ANSWER_CHARS * 2) or '(no answer)'}</answer>\n"
        + "Task: assess this answer. Reply with the JSON object only."
    )


def render_chat(job: LlmJob) -> Chat:
    """The conversation for ``job`` (task ``question``, ``followup`` or ``assess``).

    A ``followup`` was decided by the session, which quotes the candidate: it must carry
    that quote as ``anchor`` (and the missing detail as ``term``). Raises
    :class:`EngineError` for an unknown task or a follow-up without a quote.
    """
    lang = lang_of(job.language)
    if job.task == "assess":
        return Chat([("system", ASSESS_SYSTEM[lang]), ("user", _assess_user(job))])
    if job.task == "question" and job.anchor:
        focus = FOCUS.get(job.focus, FOCUS["experience"])
        user = (
            _session_line(job)
            + f"<anchor>{neutralize(job.anchor, CONTEXT_CHARS)}</anchor>\n"
            + ANCHOR_TASK[lang].format(focus=focus, term=neutralize(job.term, 40))
        )
        return Chat([*_short_turns(lang), ("user", user)])
    if job.task == "followup" and job.anchor:
        missing = GAP_TEXT.get(job.term, GAP_TEXT["example"])
        user = (
            _session_line(job)
            + f"<said>{neutralize(job.anchor, 120)}</said>\n"
            + QUOTE_TASK[lang].format(missing=missing)
        )
        return Chat([*_short_turns(lang), ("user", user)])
    if job.task == "question":
        user = (
            _session_line(job)
            + _history_block(job.history)
            + _asked_block(job)
            + _context_block(job.context)
            + QUESTION_TASK[lang]
        )
        return Chat([*_dialog_turns(lang), ("user", user)])
    if job.task == "followup":
        raise EngineError("a follow-up job needs the quoted answer (anchor)")
    raise EngineError(f"unknown LLM task {job.task!r}")


# --- ChatML (embedded llama.cpp) ----------------------------------------------------------


def _chatml(turns: list[Turn]) -> str:
    return "".join(f"<|im_start|>{role}\n{text}<|im_end|>\n" for role, text in turns)


def render_prompt(job: LlmJob) -> str:
    """The ChatML prompt for ``job`` (see :func:`render_chat`), ending inside the open
    assistant turn."""
    return _chatml(render_chat(job).turns) + "<|im_start|>assistant\n"


def dialog_prefix(lang: str) -> str:
    """ChatML of the question/follow-up instructions and examples (shared by all sessions)."""
    return _chatml(_dialog_turns(lang))


def short_prefix(lang: str) -> str:
    """ChatML of the anchored-question / quoted-follow-up prefix."""
    return _chatml(_short_turns(lang))


def assess_prefix(lang: str) -> str:
    """ChatML of the assessment system prompt."""
    return _chatml([("system", ASSESS_SYSTEM[lang])])


# --- OpenAI chat messages (remote servers) ------------------------------------------------


def render_messages(job: LlmJob) -> list[dict[str, str]]:
    """The OpenAI chat-completions ``messages`` for ``job`` (see :func:`render_chat`)."""
    return [{"role": role, "content": text} for role, text in render_chat(job).turns]
