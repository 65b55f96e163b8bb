"""Which language a text is in, and whether it stays in one.

The interview has two languages, English and Korean; every job and event carries a
language code that may have a region (``"ko-KR"``). :func:`lang_of` maps any code to
``"en"`` or ``"ko"`` (unknown codes are English), and :func:`language_pure` says whether a
sentence the interviewer would say or show is in the interview's language.
"""

from __future__ import annotations

__all__ = [
    "HANGUL",
    "Lang",
    "has_han",
    "has_hangul",
    "lang_of",
    "language_pure",
    "strip_han",
]

import re
from typing import Literal

Lang = Literal["en", "ko"]

# Han ideographs (CJK unified + extension A + compatibility). Hangul is not in these ranges.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_HAN_KANA = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_TECH_OK = 3  # Latin words a Korean sentence may carry (technical terms, names)


def lang_of(language: str) -> Lang:
    """``"ko"`` for any Korean code (``"ko"``, ``"ko-KR"``), else ``"en"``."""
    return "ko" if language.split("-", 1)[0].strip().lower() == "ko" else "en"


def has_han(text: str) -> bool:
    """True if ``text`` contains a Chinese (Han) character."""
    return _HAN.search(text) is not None


def has_hangul(text: str) -> bool:
    """True if ``text`` contains a Korean (Hangul) character."""
    return HANGUL.search(text) is not None


def strip_han(text: str) -> str:
    """Remove Han characters (and the spaces they leave doubled)."""
    return re.sub(r"[ \t]{2,}", " ", _HAN.sub("", text)).strip()


def language_pure(text: str, language: str) -> bool:
    """Korean text: Hangul present, no Han/Kana, and Latin words only as a few terms per
    sentence (never an English sentence). English text: no Hangul, Han or Kana."""
    if _HAN_KANA.search(text):
        return False
    if lang_of(language) == "en":
        return HANGUL.search(text) is None
    if not HANGUL.search(text):
        return False
    for sentence in re.split(r"(?<=[.?!。？！])\s+", text):
        latin = _LATIN_WORD.findall(sentence)
        hangul = len(HANGUL.findall(sentence))
        if len(latin) > _TECH_OK and len(latin) * 2 > hangul:
            return False
    return True
