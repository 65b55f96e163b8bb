"""The question bank, the one pick the core uses, and the one phrase and role table."""

from __future__ import annotations

import re
from collections import Counter
from typing import get_args

import msgspec
import pytest

from actors.bank import (
    DIFFICULTIES,
    LANGUAGES,
    ROLES,
    BankQuestion,
    load_bank,
)
from actors.session.bank import BUILTIN_QUESTIONS, pick
from actors.session.phrases import PHRASES, ROLE_NAMES, choose, default_phrases, role_name
from bus.events import Role

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_bank_loads_typed_and_cached() -> None:
    bank = load_bank()
    assert all(isinstance(q, BankQuestion) for q in bank)
    again = load_bank()
    assert again == bank
    assert again is not bank  # callers get their own list ...
    assert again[0] is bank[0]  # ... of the same cached, frozen questions
    with pytest.raises(AttributeError):
        bank[0].text = "changed"  # type: ignore[misc]


def test_counts_per_language_and_role() -> None:
    bank = load_bank()
    per_language = Counter(q.language for q in bank)
    per_role = Counter((q.language, q.role) for q in bank)
    per_level = Counter((q.language, q.role, q.difficulty) for q in bank)
    for lang in LANGUAGES:
        assert per_language[lang] >= 70, lang
        for role in ROLES:
            assert per_role[lang, role] >= 12, (lang, role)
            for level in DIFFICULTIES:
                assert per_level[lang, role, level] >= 3, (lang, role, level)
    assert set(per_language) == set(LANGUAGES)


def test_ids_unique_and_well_formed() -> None:
    bank = load_bank()
    ids = [q.id for q in bank]
    assert len(ids) == len(set(ids))
    for q in bank:
        assert q.id.startswith(f"{q.language}-{q.role}-"), q.id
        assert q.topic and re.fullmatch(r"[a-z0-9_]+", q.topic), q.id
        assert 20 <= len(q.text) <= 300, q.id


def test_texts_are_in_their_language() -> None:
    for q in load_bank():
        if q.language == "ko":
            assert HANGUL.search(q.text), q.id
            # Polite interview register: every question ends as a polite request/question.
            assert q.text.rstrip().endswith(("?", "요.", "다.")), q.id
        else:
            assert not HANGUL.search(q.text), q.id
            assert q.text.isascii(), q.id


def test_no_duplicate_texts() -> None:
    texts = [q.text for q in load_bank()]
    assert len(texts) == len(set(texts))


def _bank() -> list[BankQuestion]:
    def q(qid: str, role: str, level: str, lang: str = "en") -> BankQuestion:
        return msgspec.convert(
            {"id": qid, "language": lang, "role": role, "difficulty": level,
             "topic": "t", "text": f"question {qid}"},
            BankQuestion,
        )  # fmt: skip

    return [
        q("b-j", "backend", "junior"),
        q("b-m1", "backend", "mid"),
        q("b-m2", "backend", "mid"),
        q("b-s", "backend", "senior"),
        q("g-j", "general", "junior"),
        q("g-m", "general", "mid"),
        q("g-s", "general", "senior"),
        q("k-b-m", "backend", "mid", "ko"),
        q("f-m", "frontend", "mid"),
    ]


def test_pick_prefers_role_and_difficulty() -> None:
    bank = _bank()
    assert pick(bank, "en", "backend", "mid", set()) == bank[1]
    assert pick(bank, "en", "backend", "mid", set(), seed=1) == bank[2]  # the seed varies it
    assert pick(bank, "en", "backend", "mid", {"b-m1"}) == bank[2]


def test_pick_falls_back_to_role_at_another_difficulty() -> None:
    bank = _bank()
    got = pick(bank, "en", "backend", "mid", {"b-m1", "b-m2"})
    assert got is not None and got.id in ("b-j", "b-s")
    got = pick(bank, "en", "backend", "junior", {"b-j"})
    assert got is not None and got.id in ("b-m1", "b-m2", "b-s")


def test_pick_falls_back_to_general_then_to_any_role() -> None:
    bank = _bank()
    all_backend = {"b-j", "b-m1", "b-m2", "b-s"}
    got = pick(bank, "en", "backend", "senior", all_backend)
    assert got is not None and got.id == "g-s"
    got = pick(bank, "en", "data", "junior", [])  # no data questions at all
    assert got is not None and got.id == "g-j"
    got = pick(bank, "en", "backend", "senior", all_backend | {"g-s"})
    assert got is not None and got.id in ("g-j", "g-m")
    got = pick(bank, "en", "backend", "mid", all_backend | {"g-j", "g-m", "g-s"})
    assert got is not None and got.id == "f-m"  # another role before nothing


def test_pick_keeps_the_language_and_ends_with_the_builtin_questions() -> None:
    bank = _bank()
    got = pick(bank, "ko", "backend", "senior", ())
    assert got is not None and got.id == "k-b-m"
    got = pick(bank, "ko", "backend", "mid", ["k-b-m"])
    assert got in BUILTIN_QUESTIONS and got.language == "ko"
    everything = {q.id for q in bank} | {q.id for q in BUILTIN_QUESTIONS}
    assert pick(bank, "en", "general", "mid", everything) is None


def test_pick_is_deterministic_per_seed_and_stays_in_the_best_tier() -> None:
    bank = load_bank()
    seen = set()
    for seed in range(50):
        got = pick(bank, "ko", "data", "senior", set(), seed)
        assert got is not None and got == pick(bank, "ko", "data", "senior", set(), seed)
        assert (got.language, got.role, got.difficulty) == ("ko", "data", "senior")
        seen.add(got.id)
    assert len(seen) > 1


def test_pick_can_run_a_whole_interview_without_repeats() -> None:
    bank = load_bank()
    for lang in LANGUAGES:
        for role in ROLES:
            asked: list[str] = []
            for _ in range(10):
                got = pick(bank, lang, role, "mid", asked)
                assert got is not None
                assert got.id not in asked and got.role == role
                asked.append(got.id)


def test_phrases_per_language() -> None:
    for lang in LANGUAGES:
        lines = default_phrases(lang)
        for kind in ("greeting", "ack", "repeat", "next", "last_question", "closing"):
            assert lines[kind], (lang, kind)
        for greeting in lines["greeting"]:
            assert "{role}" in greeting
        for n in range(len(lines["greeting"])):
            for role in ROLES:
                text = choose(default_phrases, lang, "greeting", n, role)
                assert "{" not in text and role_name(lang, role) in text
        for kind, texts in lines.items():
            for text in texts:
                assert bool(HANGUL.search(text)) == (lang == "ko"), (lang, kind, text)
    assert "Thank you." in PHRASES["en"]["ack"]
    assert "네, 감사합니다." in PHRASES["ko"]["ack"]
    assert "Could you repeat that?" in PHRASES["en"]["repeat"]
    assert "죄송하지만 다시 한 번 말씀해 주시겠어요?" in PHRASES["ko"]["repeat"]
    assert "Next question." in PHRASES["en"]["next"]


def test_every_role_is_named_in_every_language() -> None:
    """One list of roles: the protocol's ``Role``; the table names each one, on the page
    and aloud, in each language."""
    for lang in LANGUAGES:
        assert tuple(ROLE_NAMES[lang]) == get_args(Role), lang
        for name in ROLE_NAMES[lang].values():
            assert name.label.strip() and name.spoken.strip()
            assert bool(HANGUL.search(name.label + name.spoken)) == (lang == "ko"), name
    assert role_name("en", "general") == "general behavioural"


def test_a_partial_or_broken_provider_falls_back_to_the_table() -> None:
    def partial(lang: str) -> dict[str, list[str]]:
        return {"ack": ["Mm-hm."]}

    def broken(lang: str) -> dict[str, list[str]]:
        raise RuntimeError("provider down")

    assert choose(partial, "en", "ack", 0) == "Mm-hm."
    assert choose(partial, "en", "closing", 0) == " ".join(PHRASES["en"]["closing"][0].split())
    assert choose(broken, "ko", "ack", 1) == PHRASES["ko"]["ack"][1]
