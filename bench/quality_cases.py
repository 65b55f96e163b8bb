"""The quality benchmark's cases: who the candidates are and what they answer.

Two sets, one shape (:class:`Profile`):

- ``profiles.json``: the team's own tidy cases (bullet-per-line résumés), kept to see that
  what held keeps holding.
- ``external.json``: written by someone outside the interviewer's code from varied sources
  (prose and PDF-broken résumés in both languages, LinkedIn "About" sections, other roles,
  a career changer, a very long résumé, one without numbers), with paraphrased
  grader-directed answers, off-topic answers and genuine answers that use words like
  "score" and "evaluate".

Every external set is split once into two halves by a stable hash of each item's id within
its language and set (:func:`half_of`): the ``tune`` half is what the interviewer may be
tuned on, the ``heldout`` half is only ever reported. Nobody chooses which item goes where.
"""

from __future__ import annotations

__all__ = [
    "CASES_DIR",
    "AnswerSets",
    "Claim",
    "Profile",
    "answer_for",
    "half_of",
    "load",
]

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CASES_DIR = Path(__file__).with_name("quality_cases")
Half = Literal["tune", "heldout"]


@dataclass(frozen=True)
class Claim:
    """A hand-listed claim of a résumé: its verbatim ``span`` and the answers to a question
    about it."""

    span: str
    kind: str
    strong: str
    weak: str


@dataclass
class Profile:
    id: str
    language: str
    role: str
    difficulty: str
    source: str
    resume: str
    posting: str
    claims: list[Claim]
    generic_strong: str
    generic_weak: str
    set: Literal["base", "external"]
    half: Half | None = None
    terms: list[str] = field(default_factory=list)


@dataclass
class AnswerSets:
    """Standalone answers per language: ``grader`` (talk to the grader), ``off_topic``,
    ``genuine`` (on-topic answers that use scoring words), each ``(id, text, half)``."""

    grader: dict[str, list[tuple[str, str, Half | None]]]
    off_topic: dict[str, list[tuple[str, str, Half | None]]]
    genuine: dict[str, list[tuple[str, str, Half | None]]]
    followup_answer: dict[str, str]


def half_of(item_id: str, group: list[str]) -> Half:
    """``tune`` for the first half of ``group`` ordered by CRC-32 of the ids, else
    ``heldout``: stable, balanced, decided by no one."""
    order = sorted(group, key=lambda i: (zlib.crc32(i.encode()), i))
    return "tune" if order.index(item_id) < len(order) // 2 else "heldout"


def _base_claims(p: dict[str, Any]) -> list[Claim]:
    """The tidy profiles have answers per question index: give each the résumé line its
    strong answer talks about (most words shared)."""
    lines = [ln.lstrip("- ").strip() for ln in p["resume"].split("\n") if ln.strip()]
    out: list[Claim] = []
    if not lines:
        return [
            Claim(span="", kind="", strong=a["strong"], weak=a["weak"])
            for a in p.get("answers", {}).values()
        ][:1]
    for answers in p.get("answers", {}).values():
        words = set(re.findall(r"\w+", answers["strong"].lower()))
        span = max(lines, key=lambda ln: len(words & set(re.findall(r"\w+", ln.lower()))))
        out.append(
            Claim(span=span, kind="achievement", strong=answers["strong"], weak=answers["weak"])
        )
    return out


def load(which: str = "all") -> tuple[list[Profile], AnswerSets]:
    """Profiles and answer sets of ``which`` (``base``, ``external`` or ``all``)."""
    profiles: list[Profile] = []
    base = json.loads((CASES_DIR / "profiles.json").read_text(encoding="utf-8"))
    ext = json.loads((CASES_DIR / "external.json").read_text(encoding="utf-8"))
    if which in ("base", "all"):
        for p in base["profiles"]:
            claims = _base_claims(p)
            first = claims[0] if claims else Claim("", "", "", "")
            profiles.append(
                Profile(
                    id=p["id"],
                    language=p["language"],
                    role=p["role"],
                    difficulty=p["difficulty"],
                    source="team-bullets" if p["resume"] else "no-documents",
                    resume=p["resume"],
                    posting=p["posting"],
                    claims=claims,
                    generic_strong=first.strong,
                    generic_weak=first.weak,
                    set="base",
                    terms=list(p.get("terms", [])),
                )
            )
    if which in ("external", "all"):
        for lang in ("en", "ko"):
            group = [p["id"] for p in ext["profiles"] if p["language"] == lang]
            for p in ext["profiles"]:
                if p["language"] != lang:
                    continue
                profiles.append(
                    Profile(
                        id=p["id"],
                        language=lang,
                        role=p["role"],
                        difficulty=p["difficulty"],
                        source=p["source"],
                        resume=p["resume"],
                        posting=p["posting"],
                        claims=[Claim(**c) for c in p["claims"]],
                        generic_strong=p["generic"]["strong"],
                        generic_weak=p["generic"]["weak"],
                        set="external",
                        half=half_of(p["id"], group),
                    )
                )

    def answer_set(key: str) -> dict[str, list[tuple[str, str, Half | None]]]:
        out: dict[str, list[tuple[str, str, Half | None]]] = {}
        for lang, items in ext[key].items():
            ids = [i["id"] for i in items]
            out[lang] = [(i["id"], i["text"], half_of(i["id"], ids)) for i in items]
        return out

    sets = AnswerSets(
        grader=answer_set("grader_directed"),
        off_topic=answer_set("off_topic"),
        genuine=answer_set("genuine_tricky"),
        followup_answer=dict(base["followup_answer"]),
    )
    for lang, text in base["hostile"].items():
        sets.grader.setdefault(lang, []).insert(0, (f"team-hostile-{lang}", text, None))
    return profiles, sets


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 1}


def answer_for(
    profile: Profile, question: str, level: Literal["strong", "weak"]
) -> tuple[str, str]:
    """The profile's ``level`` answer to ``question``: the hand-written answer about the
    claim the question is about (most words shared with the claim's span), else the
    generic behavioural one. Returns (answer, span or "generic")."""
    q = _words(question)
    best, score = None, 0.0
    for c in profile.claims:
        span = _words(c.span)
        if not span:
            continue
        shared = len(q & span) / min(len(span), 12)
        if shared > score:
            best, score = c, shared
    if best is not None and score >= 0.3:
        return (best.strong if level == "strong" else best.weak), best.span
    return (profile.generic_strong if level == "strong" else profile.generic_weak), "generic"
