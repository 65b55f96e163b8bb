"""Text helpers for every layer: sentence splitting (whole texts and streams), cleaning
model output for speech, cutting text to a length, and neutralising candidate text before it
goes into a prompt.

Pure functions and one small stateful class; no model, no I/O.
"""

from __future__ import annotations

__all__ = [
    "SentenceSplitter",
    "clean_sentence",
    "is_question",
    "neutralize",
    "speakable",
    "split_sentences",
    "truncate",
]

import re
import unicodedata

from actors.interview.language import strip_han

# Full-width punctuation the model sometimes emits in Korean; speech engines and the
# sentence splitter want the ASCII forms.
_FULLWIDTH = str.maketrans(
    {"，": ", ", "。": ". ", "？": "? ", "！": "! ", "：": ": ", "；": "; ", "、": ", "}
)

_TERMINATORS = ".?!。？！…"
# Words that end with a period without ending the sentence.
_ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "mr", "mrs", "ms", "dr", "vs", "etc", "st", "jr", "sr", "no", "approx"}
)
_CLOSERS = "\"'”’)]»"


def speakable(text: str) -> bool:
    """True if ``text`` has at least one letter or digit (something a voice can say)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def truncate(text: str, limit: int) -> str:
    """Collapse whitespace and cut to ``limit`` characters at a word boundary, adding
    ``…`` when something was cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


def neutralize(text: str, limit: int) -> str:
    """Make untrusted text (answers, résumé chunks, roles) safe to embed in a prompt as
    data: angle brackets become look-alikes so the text cannot open or close our
    ``<answer>``-style tags nor spell a chat-template token such as ``<|im_end|>``, and the
    length is bounded."""
    text = text.replace("<", "‹").replace(">", "›")
    return truncate(text, limit)


def _is_abbreviation(before: str) -> bool:
    word = before.rsplit(None, 1)[-1] if before.split() else ""
    word = word.lstrip("(\"'“‘").rstrip(".").lower()
    if word in _ABBREVIATIONS:
        return True
    # A single capital letter before the period is an initial ("J. Smith").
    return len(word) == 1 and word.isalpha() and before.rstrip(".")[-1:].isupper()


class SentenceSplitter:
    """Incrementally split streamed text into sentences.

    ``feed`` returns the sentences completed by the new text; ``flush`` returns what is
    left at the end of the stream. A sentence ends at ``. ? ! 。 ？ ！ …`` followed by
    whitespace (so ``3.5`` and ``e.g.`` do not split), or at a line break. Korean sentence
    endings are recognised through this punctuation and line breaks (model output
    punctuates them). Pieces shorter than ``min_chars`` are held back and joined to the
    next sentence so a speech engine never gets a two-letter fragment.
    """

    def __init__(self, min_chars: int = 6) -> None:
        self._buf = ""
        self._min = min_chars

    def feed(self, text: str) -> list[str]:
        self._buf += text.translate(_FULLWIDTH)
        out: list[str] = []
        start = 0
        i = 0
        buf = self._buf
        while i < len(buf):
            ch = buf[i]
            end: int | None = None
            if ch == "\n":
                end = i
            elif ch in _TERMINATORS:
                j = i + 1
                while j < len(buf) and (buf[j] in _TERMINATORS or buf[j] in _CLOSERS):
                    j += 1
                if j >= len(buf):
                    break  # cannot tell yet whether the sentence ends here
                if buf[j].isspace() and not (ch == "." and _is_abbreviation(buf[start:i])):
                    end = j
                i = j - 1
            if end is not None:
                piece = " ".join(buf[start:end].split())
                if len(piece) >= self._min:
                    out.append(piece)
                    start = end
                elif not piece:
                    start = end
                # else: too short, keep it and let it join the next sentence
            i += 1
        self._buf = buf[start:].lstrip() if start else buf
        return out

    def flush(self) -> str:
        """The unterminated rest (may be ``""``); the splitter is empty afterwards."""
        rest, self._buf = " ".join(self._buf.split()), ""
        return rest


def split_sentences(text: str, min_chars: int = 6, limit: int = 0) -> list[str]:
    """Split a whole text into sentences (same rules as :class:`SentenceSplitter`); with
    ``limit`` > 0, at most ``limit`` of them (the rest joins the last one)."""
    splitter = SentenceSplitter(min_chars)
    out = splitter.feed(text + "\n")
    rest = splitter.flush()
    if rest:
        out.append(rest)
    if limit > 0 and len(out) > limit:
        out = [*out[: limit - 1], " ".join(out[limit - 1 :])]
    return out


_LEADING_JUNK = re.compile(
    r"""^(?:
        \s*[-*•#>]+\s*                                   # bullets, markdown headers, quotes
      | \s*\(?\d{1,2}[.):]\s+                            # "1." "2)" numbering
      | \s*(?:Q|Question|Follow[- ]?up(?:\ question)?|Interviewer|Answer|질문|후속\s*질문|면접관)
        \s*\d*\s*[:：]\s*                                 # "Question 2:" "질문:"
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_QUOTES = "\"'“”‘’`「」『』"


def clean_sentence(sentence: str, language: str) -> str:
    """Tidy one generated sentence for speech: drop numbering, bullets, labels such as
    ``Question:``, markdown emphasis and surrounding quotes; map full-width punctuation to
    ASCII; remove Han characters in Korean (and English) output."""
    s = sentence.translate(_FULLWIDTH).replace("**", "").replace("__", "")
    prev = None
    while prev != s:
        prev = s
        s = _LEADING_JUNK.sub("", s).strip()
        s = s.strip(_QUOTES).strip()
    if language in ("ko", "en"):
        s = strip_han(s)
    s = re.sub(r"\s+([,.?!])", r"\1", s)
    return " ".join(s.split())


_KO_QUESTION_END = re.compile(r"(까|요|죠|나요|습니까|세요|을까요|ㄹ까요)[.!]?$")


def is_question(sentence: str, language: str) -> bool:
    """True if ``sentence`` reads as a question: ends with ``?``, or (Korean) with a
    typical interrogative/request ending."""
    s = sentence.rstrip(_CLOSERS + " ")
    if s.endswith(("?", "？")):
        return True
    return language == "ko" and _KO_QUESTION_END.search(s) is not None
