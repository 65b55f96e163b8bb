"""What the interviewer says without the LLM, and how it names each role: the one table.

The core is given a :data:`PhraseSource`, ``phrases(language) -> Mapping[str,
Sequence[str]]``, with the keys ``greeting`` (may contain ``{role}``), ``ack``, ``next``,
``last_question``, ``repeat`` and ``closing``. A node passes :func:`default_phrases`, this
module's :data:`PHRASES`; the same table is the last resort when an injected provider
lacks a key or a language, or raises, so a partial provider never breaks an interview. The
core reads no files, which is why the texts are Python data here rather than package data.
Variants are chosen by a number (the turn), never at random.

:data:`ROLE_NAMES` names every :data:`bus.events.Role` in every language twice: ``label``
is what the page's role menu shows (``edge/static/roles.js`` is generated from it by
:mod:`parley.page`), ``spoken`` is what the greeting's ``{role}`` becomes.
"""

from __future__ import annotations

__all__ = [
    "PHRASES",
    "ROLE_NAMES",
    "Language",
    "PhraseSource",
    "RoleName",
    "choose",
    "default_phrases",
    "role_name",
]

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from bus.events import Language, Role

PhraseSource = Callable[[Language], Mapping[str, Sequence[str]]]

PHRASES: Mapping[Language, Mapping[str, tuple[str, ...]]] = {
    "en": {
        "greeting": (
            "Hello, and welcome to your {role} interview. I'll ask you a few questions. Take "
            "your time, and answer as you would in a real interview. Let's begin.",
            "Hi, thanks for joining. This is a {role} interview. There are no trick questions; "
            "just talk me through your thinking. Shall we start?",
        ),
        "ack": (
            "Thank you.",
            "Thanks, that's helpful.",
            "Okay, thank you.",
            "I see. Thank you.",
        ),
        "next": (
            "Next question.",
            "Let's move on to the next question.",
            "All right, next question.",
        ),
        "last_question": (
            "This is the last question.",
            "One final question.",
        ),
        "repeat": (
            "Sorry, I didn't catch that. Could you repeat that?",
            "Could you repeat that?",
            "I'm sorry, could you say that again?",
        ),
        "closing": (
            "That's all the questions I have. Thank you for your time. Your feedback report "
            "will be ready in a moment.",
            "Thank you, that concludes the interview. I'm preparing your feedback now.",
        ),
    },
    "ko": {
        "greeting": (
            "안녕하세요, 반갑습니다. 오늘 {role} 면접을 진행하겠습니다. 몇 가지 질문을 드릴 "
            "텐데, 실제 면접이라고 생각하시고 편하게 답변해 주시면 됩니다. 그럼 시작하겠습니다.",
            "안녕하세요, 면접에 참여해 주셔서 감사합니다. 오늘은 {role} 면접입니다. 정답을 "
            "찾기보다는 생각하시는 과정을 편하게 말씀해 주세요. 시작해 볼까요?",
        ),
        "ack": (
            "네, 감사합니다.",
            "네, 잘 들었습니다.",
            "네, 말씀 감사합니다.",
            "네, 알겠습니다.",
        ),
        "next": (
            "다음 질문 드리겠습니다.",
            "그럼 다음 질문으로 넘어가겠습니다.",
            "네, 다음 질문입니다.",
        ),
        "last_question": (
            "마지막 질문입니다.",
            "마지막으로 하나만 더 여쭤보겠습니다.",
        ),
        "repeat": (
            "죄송하지만 다시 한 번 말씀해 주시겠어요?",
            "죄송합니다, 잘 듣지 못했습니다. 한 번 더 말씀해 주시겠어요?",
            "조금 더 크게 다시 말씀해 주시겠어요?",
        ),
        "closing": (
            "준비한 질문은 여기까지입니다. 시간 내 주셔서 감사합니다. 잠시 후 피드백 리포트를 "
            "보여 드리겠습니다.",
            "오늘 면접은 여기서 마치겠습니다. 수고 많으셨습니다. 지금 피드백을 정리하고 있으니 "
            "잠시만 기다려 주세요.",
        ),
    },
}


class RoleName(NamedTuple):
    """How a role is named: ``label`` on the page, ``spoken`` in the greeting."""

    label: str
    spoken: str


ROLE_NAMES: Mapping[Language, Mapping[Role, RoleName]] = {
    "en": {
        "backend": RoleName("Backend engineer", "backend engineering"),
        "frontend": RoleName("Frontend engineer", "frontend engineering"),
        "data": RoleName("Data analyst / scientist", "data"),
        "data_engineer": RoleName("Data engineer", "data engineering"),
        "ml_engineer": RoleName("Machine learning engineer", "machine learning engineering"),
        "product": RoleName("Product manager", "product management"),
        "general": RoleName("General (behavioural)", "general behavioural"),
    },
    "ko": {
        "backend": RoleName("백엔드 개발자", "백엔드 개발자"),
        "frontend": RoleName("프론트엔드 개발자", "프론트엔드 개발자"),
        "data": RoleName("데이터 분석가 / 사이언티스트", "데이터 직무"),
        "data_engineer": RoleName("데이터 엔지니어", "데이터 엔지니어"),
        "ml_engineer": RoleName("머신러닝 엔지니어", "머신러닝 엔지니어"),
        "product": RoleName("프로덕트 매니저", "프로덕트 매니저"),
        "general": RoleName("공통 (인성 면접)", "인성"),
    },
}


def default_phrases(language: Language) -> Mapping[str, Sequence[str]]:
    """The built-in phrases (English for an unknown language)."""
    return PHRASES.get(language, PHRASES["en"])


_SPOKEN: dict[tuple[str, str], str] = {
    (lang, role): name.spoken for lang, names in ROLE_NAMES.items() for role, name in names.items()
}


def role_name(language: str, role: str) -> str:
    """What the greeting calls ``role`` in ``language`` (an unknown one: its id)."""
    return _SPOKEN.get((language, role), role.replace("_", " "))


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
    text = text.replace("{role}", role_name(language, role))
    return " ".join(text.split())
