"""The question bank and the interviewer's fixed phrases, in English and Korean.

The bank is the interview's safety net: when the LLM misses its deadline the session asks
a bank question instead, so the interview never hangs. The phrases are short lines the
interviewer speaks without the LLM (greeting, acknowledgments, "could you repeat that?",
transitions, closing); they are few and fixed, so their TTS audio can be cached.

Both files ship as package data next to this module and are loaded and validated once::

    bank = load_bank()
    q = pick(bank, "ko", "backend", "mid", exclude_ids={"ko-backend-06"})
    hello = phrases("en")["greeting"][0].format(role=role_label("en", "backend"))
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
    "phrases",
    "pick",
    "role_label",
]

import functools
import random
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import get_args

import msgspec

from bus.events import Difficulty, Language, Role

# the client protocol's vocabulary (bus.events) is the one vocabulary
LANGUAGES: tuple[Language, ...] = get_args(Language)
ROLES: tuple[Role, ...] = get_args(Role)
DIFFICULTIES: tuple[Difficulty, ...] = get_args(Difficulty)

_HERE = Path(__file__).resolve().parent
_QUESTIONS_FILE = _HERE / "questions.json"
_PHRASES_FILE = _HERE / "phrases.json"

# Phrase kinds every language must provide; the session relies on them.
_REQUIRED_PHRASES = ("greeting", "ack", "repeat", "next", "closing")


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


class _LanguagePhrases(msgspec.Struct, forbid_unknown_fields=True):
    roles: dict[str, str]
    phrases: dict[str, list[str]]


class _PhrasesFile(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    en: _LanguagePhrases
    ko: _LanguagePhrases


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


@functools.cache
def _phrases_file() -> _PhrasesFile:
    doc = msgspec.json.decode(_PHRASES_FILE.read_bytes(), type=_PhrasesFile)
    for lang in LANGUAGES:
        entry: _LanguagePhrases = getattr(doc, lang)
        for kind in _REQUIRED_PHRASES:
            if not entry.phrases.get(kind):
                raise ValueError(f"phrases: {lang!r} has no {kind!r} lines")
        missing = set(ROLES) - entry.roles.keys()
        if missing:
            raise ValueError(f"phrases: {lang!r} lacks role labels {sorted(missing)}")
    return doc


def load_bank() -> list[BankQuestion]:
    """All questions, both languages, in file order. The file is read and validated once;
    each call returns a new list, so callers may filter or shuffle it freely."""
    return list(_questions())


def phrases(language: Language) -> dict[str, list[str]]:
    """The interviewer's fixed lines for ``language``, by kind: ``greeting`` (contains a
    ``{role}`` placeholder: fill it with :func:`role_label`), ``ack``, ``repeat``, ``next``,
    ``followup``, ``last_question``, ``no_answer``, ``closing``: the keys the session core
    asks for (:func:`actors.session.phrases.choose`).
    Returns a copy."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    entry: _LanguagePhrases = getattr(_phrases_file(), language)
    return {kind: list(lines) for kind, lines in entry.phrases.items()}


def role_label(language: Language, role: Role) -> str:
    """How the interviewer names ``role`` in ``language`` (for the greeting's ``{role}``)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    entry: _LanguagePhrases = getattr(_phrases_file(), language)
    return entry.roles[role]


def _distance(a: Difficulty, b: Difficulty) -> int:
    return abs(DIFFICULTIES.index(a) - DIFFICULTIES.index(b))


def pick(
    bank: Sequence[BankQuestion],
    language: Language,
    role: Role,
    difficulty: Difficulty,
    exclude_ids: Collection[str] = (),
    *,
    rng: random.Random | None = None,
) -> BankQuestion | None:
    """Choose a question in ``language`` that is not in ``exclude_ids``.

    Preference, first non-empty tier wins:

    1. ``role`` at ``difficulty``;
    2. ``role`` at the nearest other difficulty (for ``mid``: senior before junior);
    3. ``general`` at ``difficulty``, then the nearest other difficulty.

    Returns ``None`` when every candidate is excluded. Without ``rng`` the first candidate
    in bank order is returned, so the choice is deterministic (tests, replay after a
    restart); pass a seeded ``random.Random`` to vary questions between sessions.
    """
    excluded = exclude_ids if isinstance(exclude_ids, (set, frozenset)) else set(exclude_ids)
    available = [q for q in bank if q.language == language and q.id not in excluded]
    roles: tuple[Role, ...] = (role,) if role == "general" else (role, "general")
    for r in roles:
        of_role = [q for q in available if q.role == r]
        for dist in range(len(DIFFICULTIES)):
            tier = [q for q in of_role if _distance(q.difficulty, difficulty) == dist]
            if tier:
                # Equal distance on both sides (mid → junior/senior): prefer the harder one,
                # a fallback question should not feel easier than the plan.
                if dist:
                    level = DIFFICULTIES.index(difficulty)
                    harder = [q for q in tier if DIFFICULTIES.index(q.difficulty) > level]
                    tier = harder or tier
                return rng.choice(tier) if rng is not None else tier[0]
    return None
