"""Sentence streaming: streamed LLM text becomes at most two clean sentences ending with
the one question, yielded as soon as each is known to be usable.

Engine-independent: every engine feeds its text pieces (tokens, SSE deltas) through
:func:`question_sentences`. It drops preambles ("Sure, here is..."), markdown, Chinese
characters, a Korean reply in the wrong language or in the candidate's voice, and stops as
soon as the question is complete, so an engine can stop decoding there.
"""

from __future__ import annotations

__all__ = ["QuestionStream", "question_sentences"]

import re
import threading
from collections.abc import Iterable, Iterator

from actors.interview.language import has_hangul
from actors.interview.text import SentenceSplitter, clean_sentence, is_question, speakable

PREAMBLE = re.compile(
    r"^(sure|certainly|of course|okay|ok|alright|absolutely|great|here('s| is| are)|"
    r"next question|let me|i('d| would) like to ask|물론|알겠습니다|네[,.! ]|좋습니다|다음 질문|"
    r"여기|질문드리겠습니다)",
    re.IGNORECASE,
)
# A Korean "question" that starts in the first person is the model answering as the
# candidate.
KO_FIRST_PERSON = re.compile(r"^(저는|제가|저의|나는|내가|저희는)")


def _accept(raw: str, lang: str) -> str | None:
    s = clean_sentence(raw, lang)
    if not s or not speakable(s) or s.endswith(":") or PREAMBLE.match(s):
        return None
    if lang == "ko" and (not has_hangul(s) or KO_FIRST_PERSON.match(s)):
        return None  # wrong language, or the model answering as the candidate
    return s


class QuestionStream:
    """Push-based sentence streaming: :meth:`feed` pieces, :meth:`finish` at the end of
    the reply; each returns the sentences to emit now. ``done`` turns true when the reply is
    complete (the question arrived, or three unusable sentences): stop decoding then.

    A lead-in statement is held back until the question that follows it arrives, so a
    reply without any question yields nothing (the caller falls back)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.done = False
        self._splitter = SentenceSplitter(min_chars=6 if lang == "en" else 4)
        self._held: str | None = None
        self._considered = 0

    def _complete(self, raw: str) -> list[str] | None:
        s = _accept(raw, self.lang)
        if s is None:
            return None
        if is_question(s, self.lang):
            return [x for x in (self._held, s) if x]
        self._held = s if self._held is None else self._held  # keep the first lead-in only
        return None

    def feed(self, piece: str) -> list[str]:
        if self.done:
            return []
        for raw in self._splitter.feed(piece):
            self._considered += 1
            out = self._complete(raw)
            if out is not None or self._considered >= 3:
                self.done = True
                return out or []
        return []

    def finish(self) -> list[str]:
        if self.done:
            return []
        self.done = True
        rest = self._splitter.flush()
        if not rest:
            return []
        if self.lang == "en" and not rest.rstrip().endswith(("?", ".", "!")):
            rest = rest.rstrip() + "?"  # cut off by max_tokens mid-question
        return self._complete(rest) or []


def question_sentences(
    pieces: Iterable[str], lang: str, cancel: threading.Event | None = None
) -> Iterator[str]:
    """Turn streamed text into at most two clean sentences ending with the question (see
    :class:`QuestionStream`). Returns as soon as the reply is complete or ``cancel`` is set.
    """
    stream = QuestionStream(lang)
    for piece in pieces:
        if cancel is not None and cancel.is_set():
            return
        yield from stream.feed(piece)
        if stream.done:
            return
    if cancel is not None and cancel.is_set():
        return
    yield from stream.finish()
