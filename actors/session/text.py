"""Listening's text helpers: the light semantic endpoint, joining transcript pieces, keeping
the most recent words of a transcript (sentence splitting and cutting are in
:mod:`actors.interview.text`)."""

from __future__ import annotations

__all__ = ["join_texts", "looks_complete", "trim_left"]


_FINAL_PUNCT = (".", "?", "!", "。", "？", "！")
_TRAILING_OFF = ("...", "…", "..")
# Korean sentence-final endings (declarative/polite/interrogative), with or without a dot.
_KO_ENDINGS = ("니다", "니까", "어요", "아요", "에요", "예요", "해요", "죠", "요", "다", "까")


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
