"""Spoken phrases: the injected provider, built-in defaults, deterministic choice.

The core is given ``phrases(language) -> Mapping[str, Sequence[str]]`` (for example
``actors.bank.phrases``) with the keys ``greeting`` (may contain ``{role}``), ``ack``,
``next``, ``last_question``, ``repeat`` and ``closing``: the same keys as the bank's
table. A missing key or language falls back to :data:`DEFAULT_PHRASES` (a last resort in
the core, which reads no files), so a partial provider never breaks an interview.
Variants are chosen by a number (the turn), never at random.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_PHRASES",
    "ROLE_NAMES",
    "Language",
    "PhraseSource",
    "choose",
    "default_phrases",
]

from collections.abc import Callable, Mapping, Sequence

from bus.events import Language

PhraseSource = Callable[[Language], Mapping[str, Sequence[str]]]

DEFAULT_PHRASES: dict[str, dict[str, list[str]]] = {
    "en": {
        "greeting": [
            "Hello, and welcome to your {role} mock interview. I will ask you a few "
            "questions. Take your time, and answer out loud or by typing.",
        ],
        "ack": ["Thank you.", "I see, thanks.", "Got it."],
        "next": ["Thank you. Let's move on.", "Thanks. Next question."],
        "repeat": ["Sorry, I didn't catch that. Could you say it again?"],
        "closing": [
            "That's all my questions. Thank you for your time. Your feedback report is "
            "being prepared.",
        ],
    },
    "ko": {
        "greeting": [
            "안녕하세요, {role} 모의 면접에 오신 것을 환영합니다. 몇 가지 질문을 드리겠습니다. "
            "천천히 말씀하시거나 입력해 주세요.",
        ],
        "ack": ["감사합니다.", "네, 잘 들었습니다.", "알겠습니다."],
        "next": ["감사합니다. 다음 질문으로 넘어가겠습니다.", "네, 다음 질문입니다."],
        "repeat": ["죄송합니다, 잘 듣지 못했습니다. 다시 한 번 말씀해 주시겠어요?"],
        "closing": [
            "준비한 질문은 여기까지입니다. 시간 내주셔서 감사합니다. 피드백 리포트를 "
            "준비하고 있습니다.",
        ],
    },
}

ROLE_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "backend": "backend engineering",
        "frontend": "frontend engineering",
        "data": "data",
        "data_engineer": "data engineering",
        "ml_engineer": "machine learning engineering",
        "product": "product management",
        "general": "general",
    },
    "ko": {
        "backend": "백엔드 개발자",
        "frontend": "프론트엔드 개발자",
        "data": "데이터 직무",
        "data_engineer": "데이터 엔지니어",
        "ml_engineer": "머신러닝 엔지니어",
        "product": "프로덕트 매니저",
        "general": "인성",
    },
}


def default_phrases(language: Language) -> Mapping[str, Sequence[str]]:
    """The built-in phrases (English for an unknown language)."""
    return DEFAULT_PHRASES.get(language, DEFAULT_PHRASES["en"])


def _lookup(table: Mapping[str, Sequence[str]], keys: Sequence[str]) -> list[str]:
    for key in keys:
        variants = [v for v in table.get(key, ()) if isinstance(v, str) and v.strip()]
        if variants:
            return variants
    return []


def choose(source: PhraseSource, language: Language, key: str, n: int, role: str = "") -> str:
    """Variant ``n`` (modulo the count) of phrase ``key``, with ``{role}`` filled in.
    ``last_question`` falls back to ``next``."""
    keys = (key,)
    try:
        variants = _lookup(source(language), keys)
    except Exception:  # a broken provider must not stop the interview
        variants = []
    variants = variants or _lookup(default_phrases(language), keys)
    if not variants and key == "last_question":
        return choose(source, language, "next", n, role)
    variants = variants or [""]
    text = variants[n % len(variants)]
    name = ROLE_NAMES.get(language, {}).get(role, role)
    text = text.replace("{role}", name)
    return " ".join(text.split())
