"""Sentence streaming: streamed LLM text becomes at most two clean sentences ending with
the one question, yielded as soon as each is known to be usable.

Engine-independent: every engine feeds its text pieces (tokens, SSE deltas) through
:func:`question_sentences`. It drops preambles ("Sure, here is..."), markdown, Chinese
characters, a Korean reply in the wrong language or in the candidate's voice, and stops as
soon as the question is complete, so an engine can stop decoding there.
"""

from __future__ import annotations

__all__ = ["after_decision", "question_sentences"]

import re
import threading
from collections.abc import Generator, Iterable, Iterator

from actors.models.text import SentenceSplitter, clean_sentence, has_hangul, is_question, speakable

PREAMBLE = re.compile(
    r"^(sure|certainly|of course|okay|ok|alright|absolutely|great|here('s| is| are)|"
    r"next question|let me|i('d| would) like to ask|물론|알겠습니다|네[,.! ]|좋습니다|다음 질문|"
    r"여기|질문드리겠습니다)",
    re.IGNORECASE,
)
# A Korean "question" that starts in the first person is the model answering as the
# candidate.
KO_FIRST_PERSON = re.compile(r"^(저는|제가|저의|나는|내가|저희는)")


def after_decision(pieces: Iterator[str]) -> Generator[str, None, None]:
    """Consume a follow-up reply's ``NONE`` / ``ASK:`` decision; yield the question text
    after ``ASK:`` (or the whole reply when it has neither) and nothing at all for
    ``NONE``. Reads only as many pieces as the decision needs."""
    head = ""
    for piece in pieces:
        head += piece
        stripped = head.lstrip()
        if stripped.startswith("NONE") or "NONE".startswith(stripped):
            if len(stripped) >= 4:
                return
            continue
        if len(stripped) < 4:
            continue
        if stripped.upper().startswith("ASK:"):
            stripped = stripped[4:]
        if stripped:
            yield stripped
        break
    yield from pieces


def _accept(raw: str, lang: str) -> str | None:
    s = clean_sentence(raw, lang)
    if not s or not speakable(s) or s.endswith(":") or PREAMBLE.match(s):
        return None
    if lang == "ko" and (not has_hangul(s) or KO_FIRST_PERSON.match(s)):
        return None  # wrong language, or the model answering as the candidate
    return s


class _Reply:
    """Holds back a lead-in statement until the question that follows it arrives."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.held: str | None = None

    def complete(self, raw: str) -> list[str] | None:
        """Sentences to yield if ``raw`` completes the reply, else None."""
        s = _accept(raw, self.lang)
        if s is None:
            return None
        if is_question(s, self.lang):
            return [x for x in (self.held, s) if x]
        self.held = s if self.held is None else self.held  # keep the first lead-in only
        return None


def question_sentences(
    pieces: Iterable[str], lang: str, cancel: threading.Event | None = None
) -> Iterator[str]:
    """Turn streamed text into at most two clean sentences ending with the question.

    A reply without any question yields nothing (the caller falls back). Returns as soon as
    the question is complete, after three unusable sentences, or when ``cancel`` is set.
    """
    splitter = SentenceSplitter(min_chars=6 if lang == "en" else 4)
    reply = _Reply(lang)
    considered = 0
    for piece in pieces:
        if cancel is not None and cancel.is_set():
            return
        for raw in splitter.feed(piece):
            considered += 1
            done = reply.complete(raw)
            if done is not None:
                yield from done
                return
            if considered >= 3:
                return
    if cancel is not None and cancel.is_set():
        return
    rest = splitter.flush()
    if rest:
        if lang == "en" and not rest.rstrip().endswith(("?", ".", "!")):
            rest = rest.rstrip() + "?"  # cut off by max_tokens mid-question
        done = reply.complete(rest)
        if done is not None:
            yield from done
