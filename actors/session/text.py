"""Small text helpers: sentence splitting, the light semantic endpoint, trimming."""

from __future__ import annotations

__all__ = ["join_texts", "looks_complete", "split_sentences", "trim", "trim_left"]

import re

_SPLIT = re.compile(r"(?<=[.?!。？！])\s+")
_FINAL_PUNCT = (".", "?", "!", "。", "？", "！")
_TRAILING_OFF = ("...", "…", "..")
# Korean sentence-final endings (declarative/polite/interrogative), with or without a dot.
_KO_ENDINGS = ("니다", "니까", "어요", "아요", "에요", "예요", "해요", "죠", "요", "다", "까")


def split_sentences(text: str, limit: int) -> list[str]:
    """Split ``text`` into at most ``limit`` sentences (the rest joins the last one)."""
    parts = [p.strip() for p in _SPLIT.split(text.strip()) if p.strip()]
    if limit > 0 and len(parts) > limit:
        parts = [*parts[: limit - 1], " ".join(parts[limit - 1 :])]
    return parts


def looks_complete(text: str, language: str) -> bool:
    """True when ``text`` ends like a finished sentence (the light semantic endpoint).

    Trailing-off ellipses and commas are never complete. Korean also accepts the common
    sentence-final endings (``…니다``, ``…요``, ``…다``) with or without a full stop.
    """
    t = text.strip().rstrip("\"'”’)")
    if not t or t.endswith(_TRAILING_OFF):
        return False
    if t.endswith(_FINAL_PUNCT):
        return True
    return language == "ko" and t.endswith(_KO_ENDINGS)


def join_texts(texts: list[str]) -> str:
    """Join transcript pieces with single spaces, skipping empty ones."""
    return " ".join(t.strip() for t in texts if t.strip())


def trim(text: str, limit: int) -> str:
    """Keep the first ``limit`` characters, cut at a word boundary when one is near."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…"


def trim_left(text: str, limit: int) -> str:
    """Keep the last ``limit`` characters (a prompt wants the most recent words)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    space = cut.find(" ")
    if 0 <= space < limit * 0.4:
        cut = cut[space + 1 :]
    return cut
