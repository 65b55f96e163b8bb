"""How an answer was delivered, from what the session already has: the transcript, the
VAD timings of the answer and the posting's key terms. Pure functions, no I/O.

Per answer, :func:`analyse` returns a JSON-ready dict::

    {"spoken": true,                 # false: a typed answer, text measures only
     "unit": "wpm",                  # "wpm" (English words) or "spm" (Korean syllables)
     "count": 92,                    # words (en) or Hangul syllables (ko) in the answer
     "rate": 131.4,                  # per minute of answer time; spoken answers only
     "fillers": {"um": 2, "like": 1}, "filler_total": 3,
     "filler_at": [0.05, 0.4, 0.71], # where each filler falls, 0..1 along the answer
     "pauses": [{"at": 4.1, "length": 2.6}],  # silences > 2 s inside the answer (s)
     "first_word_s": 1.2,            # from the end of the question to the first word
     "duration_s": 42.0, "speech_s": 35.5,
     "length": {"band": "ok", "min": 60, "max": 250},  # "short" | "ok" | "long"
     "terms_used": ["Kafka"], "terms_missed": ["Terraform"],
     "star": {"situation": true, "task": false, "action": true, "result": true}}

:func:`summarise` aggregates the answers for the interview. The STAR checklist comes
from text cues (the same rules as :func:`actors.interview.answers.followup_gaps` for
action and result), so it is deterministic and language-aware; it is a checklist, not
a score.
"""

from __future__ import annotations

__all__ = [
    "FILLERS",
    "PAUSE_S",
    "Timing",
    "analyse",
    "count_units",
    "find_fillers",
    "star_checklist",
    "summarise",
]

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from actors.interview.answers import followup_gaps
from actors.interview.language import lang_of

#: A silence inside an answer longer than this (seconds) is a long pause.
PAUSE_S = 2.0
_MAX_PAUSES = 20
_MAX_TERMS = 12

#: Filler words and phrases per language. Ambiguous words (en "like"; ko "그", "저")
#: count only when set off by punctuation or repeated, as a disfluency is transcribed.
_EN = "um uh er erm hmm mm like you_know sort_of kind_of i_mean basically actually literally"
_KO = "음 어 아 그 저 이제 약간 뭐 그러니까 막 좀"
FILLERS: dict[str, tuple[str, ...]] = {
    "en": tuple(w.replace("_", " ") for w in _EN.split()),
    "ko": tuple(_KO.split()),
}
#: Fillers that count wherever they stand (the others only when set off).
_ALWAYS = frozenset(FILLERS["en"] + FILLERS["ko"]) - {
    "like",
    "kind of",
    "actually",
    "그",
    "저",
    "막",
    "좀",
}
_SET_OFF = re.compile(r"^[\s]*[,.…!?]|^\s*$")

#: (min, max) answer length per question kind, in the language's unit.
_RANGES: dict[str, dict[str, tuple[int, int]]] = {
    "en": {"main": (60, 250), "followup": (30, 150)},
    "ko": {"main": (150, 650), "followup": (80, 380)},
}

_KO_EDGE_L, _KO_EDGE_R = r"(?<![\uac00-\ud7a3\w])", r"(?![\uac00-\ud7a3\w])"
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_WORD = re.compile(r"[\w']+", re.UNICODE)
_LATIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'.+#-]*")

_SITUATION = re.compile(
    r"\b(when I was|at my (last|previous|current)|in my (last|previous) (job|role|team)|"
    r"we had|there was|our (team|system|service|product)|the project|last year|"
    r"at the time|back then)\b|당시|때\b|때에|상황|프로젝트에서|회사에서|근무",
    re.IGNORECASE,
)
_TASK = re.compile(
    r"\b(I was (asked|responsible|tasked|hired)|my (job|task|role|goal|responsibility) was|"
    r"(needed|had|wanted) to|the goal was|we needed|challenge was|problem was)\b|"
    r"맡|담당|목표|해야|과제|역할|문제",
    re.IGNORECASE,
)
_ACTION_KO = re.compile(r"제가|직접|구현|개발했|도입|설계|진행했|만들었|작성했|바꿨|적용")


class Timing(msgspec.Struct, frozen=True, kw_only=True):
    """VAD timings of a spoken answer, in seconds: ``first_word_s`` from when listening
    began (the question ended) to the first speech frame (None if unknown),
    ``duration_s`` from the first to the last speech frame, ``speech_s`` the voiced
    time, ``pauses`` the silences longer than :data:`PAUSE_S` as (offset from the
    answer's start, length)."""

    first_word_s: float | None = None
    duration_s: float = 0.0
    speech_s: float = 0.0
    pauses: list[tuple[float, float]] = []


def count_units(text: str, language: str) -> int:
    """English words, or Hangul syllables for Korean (a Korean answer's Latin words,
    e.g. "Kafka", count as one unit each)."""
    if lang_of(language) == "ko":
        return len(_HANGUL.findall(text)) + len(_LATIN.findall(text))
    return len(_WORD.findall(text))


def find_fillers(text: str, language: str) -> list[tuple[str, float]]:
    """Each filler in ``text`` with its position (0..1 along the text), in order."""
    lang = lang_of(language)
    lowered = text.casefold()
    n = max(1, len(lowered))
    found: list[tuple[str, float]] = []
    for filler in FILLERS[lang]:
        if lang == "ko":
            pat = re.compile(_KO_EDGE_L + re.escape(filler) + _KO_EDGE_R)
        else:
            pat = re.compile(r"\b" + re.escape(filler).replace(r"\ ", r"\s+") + r"\b")
        for m in pat.finditer(lowered):
            if filler not in _ALWAYS and not _set_off(lowered, m.start(), m.end()):
                continue
            found.append((filler, round(m.start() / n, 3)))
    found.sort(key=lambda f: f[1])
    return found


def _set_off(text: str, start: int, end: int) -> bool:
    """A word set off by punctuation or repeated ("like, ...", "그 그")."""
    before = text[:start].rstrip()
    after = text[end:]
    if _SET_OFF.match(after) or (before.endswith((",", "…", "...")) and after[:1] in " ,"):
        return True
    word = text[start:end]
    return after.lstrip().startswith(word + " ") or before.endswith(" " + word)


def star_checklist(answer: str, language: str) -> dict[str, bool]:
    """Which parts of a STAR answer (situation, task, action, result) the text shows."""
    gaps = followup_gaps(answer, language)
    ko = lang_of(language) == "ko"
    action = _ACTION_KO.search(answer) is not None if ko else "actions" not in gaps
    short = len(answer.split()) < 8
    return {
        "situation": _SITUATION.search(answer) is not None,
        "task": _TASK.search(answer) is not None,
        "action": action and not short,
        "result": "result" not in gaps,
    }


def _terms(answer: str, key_terms: Sequence[str]) -> tuple[list[str], list[str]]:
    folded = answer.casefold()
    used: list[str] = []
    missed: list[str] = []
    for term in list(dict.fromkeys(key_terms))[:_MAX_TERMS]:
        (used if term.casefold() in folded else missed).append(term)
    return used, missed


def analyse(
    answer: str,
    language: str,
    *,
    kind: str = "main",
    timing: Timing | None = None,
    key_terms: Sequence[str] = (),
) -> dict[str, Any]:
    """Delivery measures of one answer (see the module doc for the shape). Without
    ``timing`` (a typed answer) only the text measures are given: ``spoken`` is false
    and rate, pauses and first word are absent."""
    lang = lang_of(language)
    count = count_units(answer, lang)
    fillers = find_fillers(answer, lang)
    counts: dict[str, int] = {}
    for word, _ in fillers:
        counts[word] = counts.get(word, 0) + 1
    lo, hi = _RANGES[lang]["followup" if kind == "followup" else "main"]
    used, missed = _terms(answer, key_terms)
    out: dict[str, Any] = {
        "spoken": timing is not None,
        "unit": "spm" if lang == "ko" else "wpm",
        "count": count,
        "fillers": counts,
        "filler_total": len(fillers),
        "filler_at": [at for _, at in fillers],
        "length": {
            "band": "short" if count < lo else "long" if count > hi else "ok",
            "min": lo,
            "max": hi,
        },
        "terms_used": used,
        "terms_missed": missed,
        "star": star_checklist(answer, lang),
    }
    if timing is not None:
        minutes = timing.duration_s / 60.0
        out["rate"] = round(count / minutes, 1) if minutes > 0.05 else None
        out["duration_s"] = round(timing.duration_s, 2)
        out["speech_s"] = round(timing.speech_s, 2)
        out["first_word_s"] = (
            None if timing.first_word_s is None else round(max(0.0, timing.first_word_s), 2)
        )
        out["pauses"] = [
            {"at": round(at, 2), "length": round(length, 2)}
            for at, length in timing.pauses[:_MAX_PAUSES]
            if length > PAUSE_S
        ]
    return out


def summarise(per_answer: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The interview's delivery: mean rate and first-word time over spoken answers,
    fillers per 100 units, long pauses, and the key terms used anywhere / never."""
    spoken = [d for d in per_answer if d.get("spoken")]
    rates = [d["rate"] for d in spoken if isinstance(d.get("rate"), int | float)]
    firsts = [d["first_word_s"] for d in spoken if isinstance(d.get("first_word_s"), int | float)]
    units = sum(int(d.get("count", 0)) for d in per_answer)
    fillers = sum(int(d.get("filler_total", 0)) for d in per_answer)
    used: list[str] = []
    for d in per_answer:
        used += [t for t in d.get("terms_used", []) if t not in used]
    missed = [t for d in per_answer for t in d.get("terms_missed", [])]
    missed = [t for t in dict.fromkeys(missed) if t not in used]
    unit = per_answer[0].get("unit", "wpm") if per_answer else "wpm"
    return {
        "answers": len(per_answer),
        "spoken": len(spoken),
        "unit": unit,
        "rate": round(sum(rates) / len(rates), 1) if rates else None,
        "first_word_s": round(sum(firsts) / len(firsts), 2) if firsts else None,
        "fillers_per_100": round(100.0 * fillers / units, 1) if units else 0.0,
        "filler_total": fillers,
        "long_pauses": sum(len(d.get("pauses", [])) for d in spoken),
        "terms_used": used[:_MAX_TERMS],
        "terms_missed": missed[:_MAX_TERMS],
    }
