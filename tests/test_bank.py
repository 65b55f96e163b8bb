"""The question bank and the interviewer's phrases: contents and the fallback pick."""

from __future__ import annotations

import random
import re
from collections import Counter

import msgspec
import pytest

from actors.bank import (
    DIFFICULTIES,
    LANGUAGES,
    ROLES,
    BankQuestion,
    load_bank,
    phrases,
    pick,
    role_label,
)

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
    assert pick(bank, "en", "backend", "mid", {"b-m1"}) == bank[2]


def test_pick_falls_back_to_role_at_nearest_difficulty() -> None:
    bank = _bank()
    got = pick(bank, "en", "backend", "mid", {"b-m1", "b-m2"})
    assert got is not None and got.id == "b-s"  # equally near: the harder one first
    got = pick(bank, "en", "backend", "mid", {"b-m1", "b-m2", "b-s"})
    assert got is not None and got.id == "b-j"
    got = pick(bank, "en", "backend", "junior", {"b-j"})
    assert got is not None and got.id == "b-m1"


def test_pick_falls_back_to_general() -> None:
    bank = _bank()
    all_backend = {"b-j", "b-m1", "b-m2", "b-s"}
    got = pick(bank, "en", "backend", "senior", all_backend)
    assert got is not None and got.id == "g-s"
    got = pick(bank, "en", "data", "junior", [])  # no data questions at all
    assert got is not None and got.id == "g-j"
    got = pick(bank, "en", "backend", "senior", all_backend | {"g-s"})
    assert got is not None and got.id == "g-m"


def test_pick_respects_language_and_exhaustion() -> None:
    bank = _bank()
    got = pick(bank, "ko", "backend", "senior", ())
    assert got is not None and got.id == "k-b-m"
    assert pick(bank, "ko", "backend", "mid", ["k-b-m"]) is None
    everything = {q.id for q in bank}
    assert pick(bank, "en", "general", "mid", everything) is None


def test_pick_never_returns_another_role_than_asked_or_general() -> None:
    bank = _bank()
    got = pick(bank, "en", "general", "mid", {"g-j", "g-m", "g-s"})
    assert got is None  # frontend/backend are never a fallback for general


def test_pick_with_rng_stays_in_the_best_tier() -> None:
    bank = load_bank()
    rng = random.Random(7)
    seen = set()
    for _ in range(50):
        got = pick(bank, "ko", "data", "senior", set(), rng=rng)
        assert got is not None
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
                assert got.id not in asked
                asked.append(got.id)


def test_phrases_per_language() -> None:
    for lang in LANGUAGES:
        lines = phrases(lang)
        for kind in ("greeting", "ack", "repeat", "next", "closing"):
            assert lines[kind], (lang, kind)
        for greeting in lines["greeting"]:
            assert "{role}" in greeting
            for role in ROLES:
                text = greeting.format(role=role_label(lang, role))
                assert "{" not in text and role_label(lang, role) in text
        for kind, texts in lines.items():
            for text in texts:
                assert bool(HANGUL.search(text)) == (lang == "ko"), (lang, kind, text)
    assert "Thank you." in phrases("en")["ack"]
    assert "네, 감사합니다." in phrases("ko")["ack"]
    assert "Could you repeat that?" in phrases("en")["repeat"]
    assert "죄송하지만 다시 한 번 말씀해 주시겠어요?" in phrases("ko")["repeat"]
    assert "Next question." in phrases("en")["next"]


def test_phrases_returns_a_copy() -> None:
    lines = phrases("en")
    lines["greeting"].clear()
    assert phrases("en")["greeting"]


def test_unknown_language_is_rejected() -> None:
    with pytest.raises(ValueError):
        phrases("fr")  # type: ignore[arg-type]


def test_the_bank_has_every_phrase_the_core_asks_for() -> None:
    """The node's phrase table and the core's keys are one vocabulary: nothing falls back to
    the core's built-in lines when the bank is the provider."""
    from actors.session.phrases import DEFAULT_PHRASES

    for lang in ("en", "ko"):
        assert set(DEFAULT_PHRASES[lang]) <= set(phrases(lang)), lang
