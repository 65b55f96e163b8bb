"""The question bank as the core sees it: fallback questions when the LLM is late.

The core takes any sequence of objects with the fields of ``actors.bank.BankQuestion``
(``id, language, role, difficulty, topic, text``); it does not import that module.
:func:`pick` is deterministic: among the best matches not yet used it chooses by a seed
derived from the session id, so two sessions do not get the same fallback order but a
restored session picks what the original would have picked.
"""

from __future__ import annotations

__all__ = ["BUILTIN_QUESTIONS", "BankQuestionLike", "BuiltinQuestion", "pick", "seed_of"]

import zlib
from collections.abc import Collection, Sequence
from typing import Protocol

import msgspec


class BankQuestionLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def difficulty(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def text(self) -> str: ...


class BuiltinQuestion(msgspec.Struct, frozen=True):
    id: str
    language: str
    role: str
    difficulty: str
    topic: str
    text: str


def _builtin(lang: str, texts: list[str]) -> list[BuiltinQuestion]:
    return [
        BuiltinQuestion(f"builtin-{lang}-{i}", lang, "general", "mid", "general", t)
        for i, t in enumerate(texts)
    ]


# Last resort when the bank has nothing left: generic but sound interview questions.
BUILTIN_QUESTIONS: list[BuiltinQuestion] = [
    *_builtin(
        "en",
        [
            "Tell me about a project you are proud of and what your part in it was.",
            "Describe a hard problem you solved recently. How did you approach it?",
            "Tell me about a time you disagreed with a teammate. What happened?",
            "How do you make sure the work you deliver is correct and maintainable?",
            "Tell me about a mistake you made at work and what you learned from it.",
            "What would you like to get better at in the next year, and why?",
        ],
    ),
    *_builtin(
        "ko",
        [
            "가장 자랑스러운 프로젝트와 그 안에서 맡은 역할을 말씀해 주세요.",
            "최근에 해결한 어려운 문제를 하나 설명해 주세요. 어떻게 접근하셨나요?",
            "동료와 의견이 달랐던 경험을 말씀해 주세요. 어떻게 해결하셨나요?",
            "작업 결과가 정확하고 유지보수하기 쉽도록 어떻게 관리하시나요?",
            "업무 중 실수했던 경험과 그로부터 배운 점을 말씀해 주세요.",
            "앞으로 1년 동안 어떤 부분을 더 성장시키고 싶으신가요? 이유도 말씀해 주세요.",
        ],
    ),
]


def seed_of(text: str) -> int:
    """A stable seed (CRC-32), unlike ``hash()`` which changes per process."""
    return zlib.crc32(text.encode())


def pick(
    bank: Sequence[BankQuestionLike],
    language: str,
    role: str,
    difficulty: str,
    exclude_ids: Collection[str],
    seed: int = 0,
) -> BankQuestionLike | None:
    """The best unused question in ``language``: same role and difficulty first, then same
    role, then general ones, then any. ``None`` when nothing in ``language`` is left."""
    candidates = [q for q in bank if q.language == language and q.id not in exclude_ids]
    if not candidates:
        builtin = [q for q in BUILTIN_QUESTIONS if q.language == language] or [
            q for q in BUILTIN_QUESTIONS if q.language == "en"
        ]
        candidates = [q for q in builtin if q.id not in exclude_ids]
        if not candidates:
            return None

    def rank(q: BankQuestionLike) -> int:
        return (0 if q.role == role else 2 if q.role == "general" else 4) + (
            0 if q.difficulty == difficulty else 1
        )

    best = min(rank(q) for q in candidates)
    top = [q for q in candidates if rank(q) == best]
    return top[seed % len(top)]
