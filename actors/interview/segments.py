"""Putting pasted text back into sentences: bullets and headings on their own, lines that a
PDF broke inside a sentence joined again, words hyphenated across a line joined, page
numbers dropped, paragraphs split into sentences and a sentence holding two achievements
into two clauses. Every piece is the document's own words, whitespace made single.
"""

from __future__ import annotations

__all__ = ["SENTENCE_END", "is_header", "normalize", "segments"]

import re

from actors.interview.language import HANGUL
from actors.interview.lexicon import SECTION, YEAR_RANGE, acts

_BULLET = re.compile(r"^\s*(?:[-*•·▪◦●○■□►▶✓✔→]|\d{1,2}[.)]|[a-z][.)]|[①-⑳])\s*")
_PAGE = re.compile(
    r"^\s*(?:[-–—]?\s*\d{1,3}\s*[-–—]?|page\s*\d+(?:\s*(?:of|/)\s*\d+)?|\d+\s*/\s*\d+|"
    r"\d+\s*페이지|\d+\s*쪽)\s*$",
    re.IGNORECASE,
)
_KEEP_HYPHEN = frozenset(
    "cross front back full real self end high low long short multi non data event open cloud "
    "on off well state user team client server end-to start e co".split()
)
_JOIN_AFTER = frozenset(
    "a an the and or of to in on at for with by from as into via per that which who our my "
    "their its than while including across over under between".split()
)
SENTENCE_END = re.compile(r"(?:[.!?。？！]|다|요|함|음|됨|임|였음|했음)[\"'”’)\]]*$")
_SPLIT = re.compile(r"(?<=[.!?。？！])\s+(?=[\"'“(]?[A-Z가-힣0-9])")
_KO_OPEN_END = re.compile(
    r"(?:은|는|이|가|을|를|의|에|에서|로|으로|와|과|및|등|고|며|면서|하여|해|하고|위해|통해|"
    r"대한|관련|기반)$"
)
# "..., and I cut p99 latency ...": a second achievement in the same sentence
_ABBREV_END = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|approx|Inc|Ltd|Co|Corp|Jr|Sr|Dr|Mr|Ms|Mrs|St)|\b[A-Z])\.$"
)
_CLAUSE_SPLIT = re.compile(r",?\s+and\s+(?=I\s)|;\s+|,\s+(?=I\s)|(?<=했고),?\s+|(?<=였고),?\s+")


def normalize(text: str) -> str:
    """The text with line endings, odd spaces and zero-width characters made plain, page
    numbers removed, and words hyphenated across a line break joined again."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = re.sub(r"[\u00a0\u2000-\u200a\u202f\u3000]", " ", text)
    text = re.sub(r"[\u200b-\u200d\u2060\ufeff]", "", text)

    def dehyphen(m: re.Match[str]) -> str:
        head, tail = m.group(1), m.group(2)
        last = re.split(r"[^A-Za-z]", head)[-1].lower()
        return f"{head}-{tail}" if last in _KEEP_HYPHEN else f"{head}{tail}"

    text = re.sub(r"([A-Za-z]{2,})-[ \t]*\n[ \t]*([a-z]{2,})", dehyphen, text)
    lines = [ln for ln in text.split("\n") if not _PAGE.match(ln)]
    return "\n".join(re.sub(r" {2,}", " ", ln).strip() for ln in lines)


def is_header(line: str) -> bool:
    """True for a section heading ("EXPERIENCE", "경력", "Skills:")."""
    words = line.split()
    if not words or len(words) > 6 or (SENTENCE_END.search(line) and line.endswith(".")):
        return False
    if SECTION.match(line.strip(" :：#*")):
        return True
    core = re.sub(r"[^A-Za-z]", "", line)
    return len(core) >= 4 and core.isupper() and len(words) <= 4


def _joins(prev: str, line: str) -> bool:
    """True when ``line`` continues ``prev`` (a PDF line break inside a sentence)."""
    if not prev or _BULLET.match(line) or is_header(line) or is_header(prev):
        return False
    if SENTENCE_END.search(prev) or prev.endswith((":", "：")):
        return False
    if YEAR_RANGE.search(line) and len(line.split()) <= 14:
        return False  # a new job heading
    first = line.lstrip("\"'“(")[:1]
    if first.islower() or prev.endswith((",", ";", "-", "–", "&", "/")):
        return True
    last = prev.rsplit(None, 1)[-1].lower().strip("\"'”)")
    if last in _JOIN_AFTER:
        return True
    if HANGUL.search(prev[-1:] or "") and HANGUL.search(first or ""):
        # a Korean line cut mid-phrase ends on a particle or a connective, not on the noun
        # that closes a 개조식 item ("... 파이프라인 구축")
        return _KO_OPEN_END.search(prev) is not None
    return False


def _split_long(sentence: str, max_words: int = 40) -> list[str]:
    """A sentence holding two achievements ("I built X, and I cut Y") as two clauses;
    a very long one cut at semicolons and dashes."""
    parts = [p.strip(" ,") for p in _CLAUSE_SPLIT.split(sentence) if p.strip(" ,")]
    if len(parts) > 1 and all(acts(p) and len(p.split()) >= 4 for p in parts):
        return parts
    if len(sentence.split()) <= max_words:
        return [sentence]
    parts = [p.strip() for p in re.split(r";\s+|\s+[-–—]\s+", sentence) if p.strip()]
    return parts if len(parts) > 1 else [sentence]


def segments(text: str) -> list[str]:
    """The text's sentences in order: bullets and headings are their own, lines broken
    inside a sentence (PDF text) are joined, paragraphs are split into sentences. Each is
    the document's own words with whitespace made single. At most 300."""
    logical: list[str] = []
    for raw in normalize(text).split("\n"):
        line = raw.strip(" \t|")
        if not line:
            if logical and logical[-1]:
                logical.append("")
            continue
        bullet = bool(_BULLET.match(line))
        line = _BULLET.sub("", line).strip()
        if not line:
            continue
        if not bullet and logical and _joins(logical[-1], line):
            logical[-1] = f"{logical[-1]} {line}"
        else:
            logical.append(line)
    out: list[str] = []
    for line in logical:
        if not line:
            continue
        pieces: list[str] = []
        for part in _SPLIT.split(line):
            if pieces and _ABBREV_END.search(pieces[-1]):
                pieces[-1] = f"{pieces[-1]} {part}"
            else:
                pieces.append(part)
        for p in pieces:
            out.extend(_split_long(p.strip()))
    return [s for s in out if s][:300]
