"""The question bank, in English and Korean.

The bank is the interview's safety net: when the LLM misses its deadline the session asks
a bank question instead, so the interview never hangs. It ships as package data next to
this module and is loaded and validated once; the session node injects it into the core,
whose :func:`actors.session.bank.pick` chooses from it::

    bank = load_bank()
    q = pick(bank, "ko", "backend", "mid", exclude_ids={"ko-backend-06"}, seed=seed)

What the interviewer says besides questions, and how it names roles, is the core's one
table (:mod:`actors.session.phrases`): the core reads no files.
"""

from __future__ import annotations

__all__ = [
    "DIFFICULTIES",
    "LANGUAGES",
    "ROLES",
    "BankQuestion",
    "Difficulty",
    "Language",
    "Role",
    "load_bank",
]

import functools
from pathlib import Path
from typing import get_args

import msgspec

from bus.events import Difficulty, Language, Role

# the client protocol's vocabulary (bus.events) is the one vocabulary
LANGUAGES: tuple[Language, ...] = get_args(Language)
ROLES: tuple[Role, ...] = get_args(Role)
DIFFICULTIES: tuple[Difficulty, ...] = get_args(Difficulty)

_QUESTIONS_FILE = Path(__file__).resolve().parent / "questions.json"


class BankQuestion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One interview question. ``id`` is stable (``<language>-<role>-<nn>``) so a session
    can remember which bank questions it already asked."""

    id: str
    language: Language
    role: Role
    difficulty: Difficulty
    topic: str
    text: str


class _BankFile(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    questions: list[BankQuestion]


@functools.cache
def _questions() -> tuple[BankQuestion, ...]:
    doc = msgspec.json.decode(_QUESTIONS_FILE.read_bytes(), type=_BankFile)
    seen: set[str] = set()
    for q in doc.questions:
        if q.id in seen:
            raise ValueError(f"question bank: duplicate id {q.id!r}")
        if not q.text.strip():
            raise ValueError(f"question bank: empty text for {q.id!r}")
        seen.add(q.id)
    return tuple(doc.questions)


def load_bank() -> list[BankQuestion]:
    """All questions, both languages, in file order. The file is read and validated once;
    each call returns a new list, so callers may filter or shuffle it freely."""
    return list(_questions())
