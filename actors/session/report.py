"""The final report: pure aggregation of the per-answer assessments.

Each answer is assessed by the LLM right after it is given (``LlmJob(task="assess")``);
:func:`parse_assessment` reads its ``LlmDone.rubric`` (:class:`bus.jobs.Rubric`: the four
scores of :data:`bus.jobs.SCORE_KEYS`, evidence, a strength and an improvement), values
clamped to 1..5. When it is missing or itself a placeholder (``fallback``),
:func:`heuristic_assessment` estimates scores from the answer's length and shape and
marks them ``"fallback": true``; averages leave fallback scores out whenever at least
one real assessment exists (``"estimated": true`` says when they could not).

:func:`build_report` returns a JSON-ready dict (see its docstring for the shape); every
sentence in it is in the interview language.
"""

from __future__ import annotations

__all__ = [
    "RUBRIC",
    "build_report",
    "earlier_answers",
    "grader_assessment",
    "heuristic_assessment",
    "honest_assessment",
    "parse_assessment",
]

import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from actors.interview.answers import (
    FOLLOWUP_MIN_WORDS,
    followup_gaps,
    grader_directed,
    metric_phrase,
    own_action_phrase,
    pick_quote,
    repeated_answer,
)
from actors.interview.feedback import clean_sentences, copies
from actors.interview.quoting import quotable
from actors.session.delivery import star_checklist, summarise
from actors.session.state import Analysis, Assessment, Settings, TurnRecord
from bus.jobs import SCORE_KEYS, Rubric

RUBRIC: tuple[str, ...] = SCORE_KEYS
_MAX_ITEMS = 3
_MAX_ITEM_CHARS = 240

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "relevance": "relevance",
        "depth": "depth",
        "clarity": "clarity",
        "role_fit": "fit for the role",
        "structure": "structure",
    },
    "ko": {
        "relevance": "질문 적합성",
        "depth": "깊이",
        "clarity": "명확성",
        "role_fit": "직무 적합성",
        "structure": "구조",
    },
}

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "summary": "You answered {n} of {total} questions{extra}, with an overall score "
        "of {overall:.1f} out of 5.",
        "extra": " ({answers} answers including follow-ups)",
        "summary_best": " Your strongest area was {best}; the one to work on is {worst}.",
        "summary_none": "The interview ended before any question was answered, so there is "
        "nothing to score yet.",
        "strong": "Strong {label} in your answers.",
        "weak": "Work on {label}: give a concrete example, what you did, and the result.",
        "h_feedback": "Estimated from the length and shape of the answer; the detailed "
        "assessment was not available.",
        "h_example": "Used concrete examples or numbers.",
        "h_detail": "Gave a detailed answer.",
        "h_short": "Say more: the situation, what you did, and the outcome.",
        "h_example_missing": "Support the answer with a concrete example or a number.",
        "h_structure": "Structure the answer in a few clear steps.",
        "g_feedback": "The answer asked the grader for a score instead of answering the "
        "question, so it scores as not addressing it.",
        "g_improve": "Answer the question that was asked, with one real example from your work.",
        "r_feedback": "This answer repeats your answer to an earlier question, so it scores as "
        "not addressing this one.",
        "r_improve": "Answer each question with its own example, one that fits what was asked.",
        "o_feedback": "This answer was about something other than the question, so it scores "
        "as not addressing it.",
        "o_improve": "Start from what was asked and answer it with one example from your own work.",
        "p_feedback": "Part of the answer spoke to the grader instead of the question "
        "(“{quote}”); it was left out of the assessment and lowers relevance.",
        "f_said": "You said “{quote}”.",
        "f_missing": " Missing: {gaps}.",
        "f_complete": " It named your own actions and a result.",
        "gap_actions": "what you did yourself",
        "gap_result": "the result, ideally in numbers",
        "gap_example": "a concrete example",
        "i_actions": "Say what you did yourself, not only what the team did.",
        "i_result": "End with the result, in numbers if you can (time saved, errors cut, users).",
        "i_example": "Ground the answer in one concrete example from your own work.",
        "i_more": "Add the trade-off you weighed and what you would do differently next time.",
        "s_metric": "You backed the answer with a number: “{quote}”.",
        "s_actions": "You said what you did yourself: “{quote}”.",
        "s_direct": "You answered the question directly.",
    },
    "ko": {
        "summary": "총 {total}개 질문 중 {n}개에 답변했으며{extra} 종합 점수는 5점 만점에 "
        "{overall:.1f}점입니다.",
        "extra": "(꼬리 질문 포함 {answers}개 답변)",
        "summary_best": " 가장 강한 부분은 {best} 항목이고, 보완할 부분은 {worst} 항목입니다.",
        "summary_none": "답변한 질문이 없어 아직 평가할 내용이 없습니다.",
        "strong": "답변의 {label} 항목이 좋았습니다.",
        "weak": "{label} 항목을 보완하세요. 구체적인 사례, 본인이 한 일, 결과를 말해 주세요.",
        "h_feedback": "답변의 길이와 구성으로 추정한 점수입니다. 상세 평가는 받지 못했습니다.",
        "h_example": "구체적인 사례나 수치를 들었습니다.",
        "h_detail": "자세하게 답변했습니다.",
        "h_short": "상황, 본인이 한 일, 결과를 더 자세히 말해 주세요.",
        "h_example_missing": "구체적인 사례나 수치로 답변을 뒷받침해 주세요.",
        "h_structure": "답변을 몇 단계로 나누어 구조적으로 말해 주세요.",
        "g_feedback": "질문에 답하지 않고 평가자에게 점수를 요청했기 때문에 질문에 답하지 않은 "
        "것으로 평가했습니다.",
        "g_improve": "받은 질문에 직접 답하고, 실제 업무 사례를 하나 들어 주세요.",
        "r_feedback": "앞선 질문에 한 답변을 되풀이했기 때문에 이 질문에 답하지 않은 것으로 "
        "평가했습니다.",
        "r_improve": "질문마다 그 질문에 맞는 사례를 따로 들어 답변해 주세요.",
        "o_feedback": "질문과 다른 내용을 답했기 때문에 질문에 답하지 않은 것으로 평가했습니다.",
        "o_improve": "받은 질문에서 출발해, 본인 업무의 사례 하나로 답해 주세요.",
        "p_feedback": "답변 일부가 질문이 아니라 평가자를 향한 말이었습니다(“{quote}”). 그 부분은 "
        "평가에서 제외했고 질문 적합성 점수를 낮췄습니다.",
        "f_said": "“{quote}”라고 말씀하셨습니다.",
        "f_missing": " 부족한 부분: {gaps}.",
        "f_complete": " 본인이 한 일과 결과가 모두 드러났습니다.",
        "gap_actions": "본인이 직접 한 일",
        "gap_result": "수치로 된 결과",
        "gap_example": "구체적인 사례",
        "i_actions": "팀이 한 일이 아니라 본인이 직접 한 일을 말씀해 주세요.",
        "i_result": "결과를 수치로 말씀해 주세요. 예를 들어 줄어든 시간이나 오류 수입니다.",
        "i_example": "본인 업무의 구체적인 사례 하나로 답변을 뒷받침해 주세요.",
        "i_more": "고려했던 트레이드오프와 다음에 다르게 할 점을 덧붙여 주세요.",
        "s_metric": "“{quote}”처럼 수치로 답변을 뒷받침했습니다.",
        "s_actions": "“{quote}”처럼 본인이 한 일을 구체적으로 말했습니다.",
        "s_direct": "질문에 직접 답했습니다.",
    },
}

_EXAMPLE = re.compile(
    r"\d|for example|for instance|e\.g\.|because|result|measured|예를 들어|예시|때문|결과|수치",
    re.IGNORECASE,
)


def _texts(language: str) -> dict[str, str]:
    return _TEXT.get(language, _TEXT["en"])


def _labels(language: str) -> dict[str, str]:
    return LABELS.get(language, LABELS["en"])


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value:  # NaN
        return None
    return round(min(5.0, max(1.0, float(value))), 2)


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    items = [" ".join(str(v).split())[:_MAX_ITEM_CHARS] for v in value if str(v).strip()]
    return items[:_MAX_ITEMS]


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


def parse_assessment(rubric: Rubric | None) -> Assessment | None:
    """An ``assess`` job's rubric as the report keeps it (scores clamped to 1..5); ``None``
    when there is none or it is a placeholder (``fallback``)."""
    if rubric is None or rubric.fallback:
        return None
    scores: dict[str, float] = {}
    for key, raw in rubric.scores().items():
        value = _score(raw)
        if value is not None:
            scores[key] = value
    if not scores:
        return None
    return Assessment(
        scores=scores,
        overall=_mean(list(scores.values())),
        strengths=_str_list(rubric.strength),
        improvements=_str_list(rubric.improvement),
        evidence=_str_list(rubric.evidence)[:2],
    )


def heuristic_assessment(question: str, answer: str, language: str) -> Assessment:
    """Scores estimated from the answer alone (length, examples, sentence count).

    Deliberately modest (never above 4): it cannot judge content."""
    text = _texts(language)
    size = len(answer.replace(" ", "")) if language == "ko" else len(answer.split())
    steps = (15, 50, 120, 250) if language == "ko" else (8, 25, 60, 120)
    depth = float(min(4, 1 + sum(1 for s in steps if size >= s)))
    example = bool(_EXAMPLE.search(answer))
    sentences = len([p for p in re.split(r"[.?!。？！]+", answer) if p.strip()])
    structure = float(min(4, 2 + (sentences >= 3) + example)) if size else 1.0
    base = 3.0 if size >= steps[0] else (2.0 if size else 1.0)
    clarity = min(base, structure) if size else 1.0
    scores = {"relevance": base, "depth": depth, "clarity": clarity, "role_fit": base}
    strengths = [text["h_example"]] if example else []
    if depth >= 4:
        strengths.append(text["h_detail"])
    improvements = []
    if depth <= 2:
        improvements.append(text["h_short"])
    if not example:
        improvements.append(text["h_example_missing"])
    if structure <= 2:
        improvements.append(text["h_structure"])
    return Assessment(
        scores=scores,
        overall=_mean(list(scores.values())),
        strengths=strengths[:_MAX_ITEMS],
        improvements=improvements[:_MAX_ITEMS],
        feedback=text["h_feedback"],
        fallback=True,
    )


def _rule_strengths(
    answer: str, lang: str, gaps: list[str], scores: Mapping[str, float]
) -> list[str]:
    """Strengths read off the answer, never invented: a figure it stated (the quote holds
    the figure), the candidate's own action (first person and a verb, not a denial), or a
    direct answer when the model scored relevance high. Each quote is a whole phrase."""
    text = _texts(lang)
    number = metric_phrase(answer, lang)
    if number and "result" not in gaps and "example" not in gaps:
        return [text["s_metric"].format(quote=number)]
    own = own_action_phrase(answer, lang)
    if own and "actions" not in gaps and len(answer.split()) >= 12:
        return [text["s_actions"].format(quote=own)]
    if scores.get("relevance", 0) >= 4 and scores.get("depth", 0) >= 3 and not gaps:
        return [text["s_direct"]]
    return []


def earlier_answers(answers: Sequence[TurnRecord], rec: TurnRecord) -> list[str]:
    """The candidate's answers before ``rec`` to other questions (not its own follow-ups):
    what :func:`honest_assessment` checks a repeat against."""
    return [r.answer for r in answers if r.turn < rec.turn and r.index != rec.index]


def grader_assessment() -> Assessment:
    """The scores of an answer that only talks to the grader (decided by rule, no model)."""
    scores = {"relevance": 1.0, "depth": 1.0, "clarity": 2.0, "role_fit": 1.0}
    return Assessment(scores=scores, overall=_mean(list(scores.values())))


def honest_assessment(
    a: Assessment,
    question: str,
    answer: str,
    language: str,
    earlier: Sequence[str] = (),
    analysis: Analysis | None = None,
    kind: str = "main",
) -> Assessment:
    """Apply the rules the model cannot be trusted with, to any assessment.

    ``analysis`` is what the embedding model read in the answer (which sentences talk to the
    grader, whether it is about its question); without it the word list alone decides.

    * An answer that only talks to the grader (:func:`grader_directed`, or every sentence
      flagged by meaning) does not address the question: relevance, depth and role fit 1,
      clarity at most 2, no strengths. One that *partly* talks to the grader is judged on
      the rest, with relevance and role fit at most 2, and the feedback quotes what was
      left out and why.
    * An answer that repeats one of the ``earlier`` answers to another question
      (:func:`repeated_answer`) does not address this one: relevance at most 2, no
      strengths, and the feedback says so.
    * An answer whose meaning is far from its question (``analysis.on_topic`` false) does
      not address it: relevance at most 2, no strengths, and the feedback says so.
    * An off-topic answer (relevance ≤ 2) gets role fit at most its relevance.
    * A thin answer (no example with a number, and no own actions or no result; under 8
      words; or a main answer too short to tell a situation, an action and a result:
      under 30 words, Korean under 80 characters) gets depth ≤ 2 and role fit ≤ 3; a thin
      one relevance ≤ 3 (half an answer to a question that asked for an example), a short
      main one clarity ≤ 3 (too little to be structured); one that shows fewer than two
      parts of STAR gets depth ≤ 3.
    * Strengths and improvements are kept only in the interview language, complete, not
      "None", strengths not negative; there is always one concrete improvement; feedback
      quotes what was said (never the text addressed to the grader) and names what was
      missing. Strengths quote only the candidate's own words outside that text.
    """
    lang = "ko" if language == "ko" else "en"
    text = _texts(lang)
    scores = dict(a.scores)
    flagged = analysis.grader_text() if analysis is not None else []
    clean = analysis.clean(answer) if analysis is not None else answer
    if grader_directed(answer) and not flagged:
        flagged, clean = [answer], ""
    if flagged and len(clean.split()) < FOLLOWUP_MIN_WORDS and len(clean) < 24:
        for key in ("relevance", "depth", "role_fit"):
            scores[key] = 1.0
        scores["clarity"] = min(scores.get("clarity", 2.0), 2.0)
        return msgspec.structs.replace(
            a,
            scores=scores,
            overall=_mean(list(scores.values())),
            strengths=[],
            improvements=[text["g_improve"]],
            feedback=text["g_feedback"],
            evidence=[],
        )
    gaps = followup_gaps(clean, lang)
    repeat = repeated_answer(clean, earlier)
    off_topic = analysis is not None and not analysis.on_topic
    if repeat or off_topic or flagged:
        scores["relevance"] = min(scores.get("relevance", 2.0), 2.0)
    relevance = scores.get("relevance", 3.0)
    if relevance <= 2 and "role_fit" in scores:
        scores["role_fit"] = min(scores["role_fit"], relevance)
    weak = "example" in gaps and ("actions" in gaps or "result" in gaps)
    short = kind == "main" and (
        len(clean.replace(" ", "")) < 80 if lang == "ko" else len(clean.split()) < 30
    )
    thin = weak or ("actions" in gaps and "result" in gaps) or len(clean.split()) < 8
    if thin or short:
        if "depth" in scores:
            scores["depth"] = min(scores["depth"], 2.0)
        if "role_fit" in scores:
            scores["role_fit"] = min(scores["role_fit"], 3.0)
    if thin and "relevance" in scores:  # asked for an example, it gave none: half an answer
        scores["relevance"] = min(scores["relevance"], 3.0)
    if short and "clarity" in scores:  # two sentences have no structure to be clear about
        scores["clarity"] = min(scores["clarity"], 3.0)
    if sum(star_checklist(clean, lang).values()) < 2 and "depth" in scores:
        scores["depth"] = min(scores["depth"], 3.0)
    strengths = clean_sentences(a.strengths, lang, positive=True)
    improvements = [
        i for i in clean_sentences(a.improvements, lang, positive=False) if not copies(i, answer)
    ]
    if repeat:
        strengths, improvements = [], [text["r_improve"]]
    elif off_topic:
        strengths, improvements = [], [text["o_improve"]]
    if not improvements:
        gap = next((g for g in ("actions", "result", "example") if g in gaps), "more")
        improvements = [text[f"i_{gap}"]]
    evidence = [e for e in a.evidence if e.strip() and not any(e in f for f in flagged)]
    quote = next(iter(evidence), "") or pick_quote(clean, lang)
    if not strengths and not a.fallback and not repeat and not off_topic:
        strengths = _rule_strengths(clean, lang, gaps, scores)
    feedback = text["f_said"].format(quote=quote) if quote else ""
    if repeat:
        feedback = text["r_feedback"]
    elif off_topic:
        feedback = text["o_feedback"]
    elif gaps:
        missing = ", ".join(text[f"gap_{g}"] for g in gaps)
        feedback += text["f_missing"].format(gaps=missing)
    elif feedback:
        feedback += text["f_complete"]
    if flagged:
        feedback = text["p_feedback"].format(quote=quotable(flagged[0], "", 12)) + " " + feedback
    return msgspec.structs.replace(
        a,
        scores=scores,
        overall=_mean(list(scores.values())),
        strengths=strengths,
        improvements=improvements,
        feedback=feedback.strip() or a.feedback,
        evidence=evidence or ([quote] if quote else []),
    )


def _top(groups: list[list[str]]) -> list[str]:
    """Most frequent items first (ties by first appearance), de-duplicated, at most 3."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for items in groups:
        for item in items:
            key = item.casefold().strip(" .")
            counts[key] = counts.get(key, 0) + 1
            first.setdefault(key, item)
    order = sorted(counts, key=lambda k: -counts[k])
    return [first[k] for k in order[:_MAX_ITEMS]]


def build_report(
    session_id: str,
    settings: Settings,
    answers: Sequence[TurnRecord],
    *,
    asked: int,
    ended_early: bool,
) -> dict[str, Any]:
    """Aggregate the answers into the report dict::

        {"version": 1, "session_id", "language", "role", "difficulty",
         "questions_planned", "questions_asked", "answered", "ended_early",
         "overall": float | None (1–5), "scores": {criterion: float},
         "strengths": [str], "improvements": [str], "summary": str,
         "fallback_count": int, "estimated": bool,
         "answers": [{"turn", "index", "kind", "question", "answer", "source",
                      "scores", "overall", "strengths", "improvements", "feedback",
                      "evidence", "fallback", "latency", "delivery"}],
         "delivery": {...},   # actors.session.delivery.summarise over the answers
         "transcript": [{"turn", "speaker": "interviewer" | "candidate", "text"}]}

    Answers without an assessment get :func:`heuristic_assessment` (``fallback: true``).
    Averages use only real assessments when there is at least one; otherwise they use
    the fallbacks and ``estimated`` is true.
    """
    lang = settings.language
    items: list[dict[str, Any]] = []
    assessed: list[Assessment] = []
    transcript: list[dict[str, Any]] = []
    for rec in answers:
        a = rec.assessment or honest_assessment(
            heuristic_assessment(rec.question, rec.answer, lang),
            rec.question,
            rec.answer,
            lang,
            earlier_answers(answers, rec),
            rec.analysis,
            rec.kind,
        )
        assessed.append(a)
        items.append(_item(rec, a))
        transcript.append({"turn": rec.turn, "speaker": "interviewer", "text": rec.question})
        transcript.append({"turn": rec.turn, "speaker": "candidate", "text": rec.answer})
    real = [a for a in assessed if not a.fallback]
    basis = real or assessed
    scores = _criteria(basis)
    overall = round(_mean([a.overall for a in basis]), 1) if basis else None
    strengths = _top([a.strengths for a in assessed])
    improvements = _top([a.improvements for a in assessed])
    _fill_from_scores(scores, lang, strengths, improvements)
    return {
        "version": 1,
        "session_id": session_id,
        "language": lang,
        "role": settings.role,
        "difficulty": settings.difficulty,
        "questions_planned": settings.total,
        "questions_asked": asked,
        "answered": len(items),
        "ended_early": ended_early,
        "overall": overall,
        "scores": scores,
        "strengths": strengths,
        "improvements": improvements,
        "summary": _summary(lang, answers, settings.total, overall, scores),
        "fallback_count": sum(1 for a in assessed if a.fallback),
        "estimated": bool(assessed) and not real,
        "answers": items,
        "delivery": summarise([i["delivery"] for i in items if i["delivery"]]),
        "transcript": transcript,
    }


def _item(rec: TurnRecord, a: Assessment) -> dict[str, Any]:
    return {
        "turn": rec.turn,
        "index": rec.index,
        "kind": rec.kind,
        "question": rec.question,
        "answer": rec.answer,
        "source": rec.source,
        "scores": dict(a.scores),
        "overall": a.overall,
        "strengths": list(a.strengths),
        "improvements": list(a.improvements),
        "feedback": a.feedback,
        "evidence": list(a.evidence),
        "fallback": a.fallback,
        "latency": dict(rec.latency),
        "anchor": rec.anchor,
        "anchor_line": rec.anchor_line,
        "delivery": dict(rec.delivery),
        **({"outline": rec.outline} if rec.outline else {}),
    }


def _criteria(assessed: Sequence[Assessment]) -> dict[str, float]:
    keys: list[str] = [k for k in RUBRIC if any(k in a.scores for a in assessed)]
    for a in assessed:
        keys.extend(k for k in a.scores if k not in keys and len(keys) < 12)
    return {k: round(_mean([a.scores[k] for a in assessed if k in a.scores]), 1) for k in keys}


def _fill_from_scores(
    scores: Mapping[str, float], lang: str, strengths: list[str], improvements: list[str]
) -> None:
    """Every report names at least one strength and one thing to improve."""
    if not scores:
        return
    labels, text = _labels(lang), _texts(lang)
    best = max(scores, key=lambda k: scores[k])
    worst = min(scores, key=lambda k: scores[k])
    if not strengths:
        strengths.append(text["strong"].format(label=labels.get(best, best)))
    if not improvements:
        improvements.append(text["weak"].format(label=labels.get(worst, worst)))


def _summary(
    lang: str,
    answers: Sequence[TurnRecord],
    total: int,
    overall: float | None,
    scores: Mapping[str, float],
) -> str:
    text, labels = _texts(lang), _labels(lang)
    if not answers or overall is None:
        return text["summary_none"]
    n = len({a.index for a in answers})
    extra = text["extra"].format(answers=len(answers)) if len(answers) > n else ""
    out = text["summary"].format(n=n, total=max(total, n), extra=extra, overall=overall)
    if scores:
        best = max(scores, key=lambda k: scores[k])
        worst = min(scores, key=lambda k: scores[k])
        if scores[best] > scores[worst]:
            out += text["summary_best"].format(
                best=labels.get(best, best), worst=labels.get(worst, worst)
            )
    return out
