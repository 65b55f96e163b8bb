"""``parley bench quality``: the interviewer's quality on its own cases, on the real LLM.

Runs typed interviews one at a time through the real session core (the same sans-I/O
state machine a node runs) with the real Qwen engine behind a scheduler that behaves like
the LLM actor: live jobs (questions, follow-ups) first, a running assessment preempted by
a live job and resumed afterwards. What is *not* in the loop: speech (answers are typed,
so recognition is not the variable), TTS (the interviewer's text is measured when it is
shown; audio would add its first-chunk time, ~0.3 s for piper) and RAG retrieval (the
plan does not use it; search results come back empty at once).

The cases (``bench/quality_cases/profiles.json``): profiles in English and Korean, several
roles, a résumé and a job posting (two without), and per planned question a strong and a
weak answer, plus a grader-directed (hostile) answer per language. Each interview answers
question 1 strongly, question 2 weakly and question 3 with the hostile answer; the other
answer of each of questions 1 and 2 is scored too, so strong and weak are compared on the
same question.

Every figure is decided by a checkable rule:

- grounded: a main question contains one of the profile's hand-listed terms (employers,
  technologies, numbers of the résumé/posting), or a quoted phrase that occurs verbatim
  in the résumé or the posting;
- on-role: grounded, or a question of the role's bank (or the general bank);
- repeats: pairs of main questions of one interview that are near-duplicates;
- follow-up reference: the follow-up quotes a phrase that occurs in the answer;
- strong > weak: the strong answer's overall score is above the weak one's;
- grader-directed relevance: the hostile answer's relevance score;
- language purity: every interviewer sentence and every report sentence (summary,
  strengths, improvements, feedback) passes :func:`language_pure`;
- latencies: ``start`` -> first main question shown; typed answer -> next question's
  first sentence shown, and -> the follow-up's question sentence; last answer -> report;
  deadlines expired (the core's counter).

Prints every question for a person to read, the table, and writes the results as JSON.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from actors.bank import load_bank
from actors.interview.answers import near_duplicate, quote_in
from actors.interview.language import language_pure
from actors.models.engines import EngineCancelled, LlmEngine
from actors.session import (
    ClientInput,
    CoreConfig,
    Emit,
    JobResultIn,
    RequestJob,
    SessionCore,
    Tick,
    default_phrases,
)
from actors.session.report import honest_assessment, parse_assessment
from bus import events as ev
from bus import jobs as jb

CASES = Path(__file__).with_name("quality_cases") / "profiles.json"
log = logging.getLogger("bench.quality")


# --- the LLM scheduler (what LlmActor does, in threads) -----------------------------------


@dataclass(order=True)
class _Item:
    priority: int
    seq: int
    job: jb.LlmJob = field(compare=False)
    deadline: float = field(compare=False)


class Scheduler:
    """One engine thread. Live jobs first; a live job preempts a running assessment,
    which goes back to the front of the queue and resumes (its KV prefix is kept)."""

    def __init__(self, engine: LlmEngine, results: queue.Queue[jb.Result]) -> None:
        self.engine = engine
        self.results = results
        self._q: queue.PriorityQueue[_Item] = queue.PriorityQueue()
        self._seq = 0
        self._running_assess: threading.Event | None = None
        self._lock = threading.Lock()
        self.preemptions = 0
        self.dropped: set[str] = set()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="llm-engine", daemon=True)
        self._thread.start()

    def submit(self, job: jb.LlmJob, deadline: float) -> None:
        if job.task in ("outline", "prefill"):
            # Not measured here: the outline comes after the report, and typed answers are
            # never prefilled. Refused at once, the way the session sees an absent actor.
            self.results.put(
                jb.JobError(
                    job_id=job.job_id,
                    kind="assess",
                    code="unavailable",
                    message="not run by the quality benchmark",
                )
            )
            return
        live = job.task != "assess"
        with self._lock:
            self._seq += 1
            self._q.put(_Item(0 if live else 1, self._seq, job, deadline))
            if live and self._running_assess is not None:
                self.preemptions += 1
                self._running_assess.set()

    def stop(self) -> None:
        self._stop = True
        self._q.put(
            _Item(
                -1,
                0,
                jb.LlmJob(job_id="stop", session_id="", task="question", language="en", role=""),
                0.0,
            )
        )
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop:
            item = self._q.get()
            if self._stop:
                return
            job = item.job
            if job.session_id in self.dropped:  # its interview is over
                continue
            if time.monotonic() > item.deadline:
                self.results.put(
                    jb.JobError(
                        job_id=job.job_id,
                        kind="llm",
                        code="deadline",
                        message="expired in the queue",
                    )
                )
                continue
            started = time.monotonic()
            if job.task == "assess":
                cancel = threading.Event()
                with self._lock:
                    self._running_assess = cancel
                try:
                    data = self.engine.assess(job, cancel)
                except EngineCancelled:
                    with self._lock:
                        self._running_assess = None
                        self._q.put(_Item(1, -item.seq, job, item.deadline))  # resume first
                    continue
                with self._lock:
                    self._running_assess = None
                rubric = msgspec.convert(data, jb.Rubric)
                self.results.put(
                    jb.LlmDone(
                        job_id=job.job_id,
                        text="",
                        rubric=rubric,
                        latency_ms=int((time.monotonic() - started) * 1000),
                    )
                )
                continue
            sentences: list[str] = []
            for s in self.engine.generate(job, threading.Event()):
                self.results.put(jb.LlmSentence(job_id=job.job_id, index=len(sentences), text=s))
                sentences.append(s)
            self.results.put(
                jb.LlmDone(
                    job_id=job.job_id,
                    text=" ".join(sentences),
                    sentences=len(sentences),
                    latency_ms=int((time.monotonic() - started) * 1000),
                )
            )


# --- one interview ------------------------------------------------------------------------


@dataclass
class Interview:
    profile: dict[str, Any]
    events: list[tuple[float, ev.ServerEvent]] = field(default_factory=list)
    answers: list[tuple[float, int, str, str]] = field(default_factory=list)  # t, turn, kind, text
    report: dict[str, Any] | None = None
    started: float = 0.0
    core: SessionCore | None = None

    def questions(self) -> list[tuple[int, str, str]]:
        """(turn, kind, full text) of every interviewer question, in order."""
        by_turn: dict[int, tuple[str, str]] = {}
        for _, e in self.events:
            if isinstance(e, ev.Question):
                by_turn[e.turn] = (e.kind, e.text)
        return [(t, k, x) for t, (k, x) in sorted(by_turn.items())]


def _answer_for(profile: dict[str, Any], cases: dict[str, Any], kind: str, index: int) -> str:
    lang = profile["language"]
    if kind == "followup":
        return str(cases["followup_answer"][lang])
    if index >= 3:
        return str(cases["hostile"][lang])
    level = "strong" if index == 1 else "weak"
    return str(profile["answers"][str(index)][level])


def run_interview(
    profile: dict[str, Any],
    cases: dict[str, Any],
    sched: Scheduler,
    results: queue.Queue[jb.Result],
    questions: int,
    think_s: float,
) -> Interview:
    bank = load_bank()
    core = SessionCore.new(f"q-{profile['id']}"[:40], CoreConfig(), bank, default_phrases)
    iv = Interview(profile=profile, core=core)
    pending: list[tuple[float, str]] = []  # (when, text) of the candidate's next answer
    answered_turns: set[int] = set()

    def feed(inp: Any) -> None:
        for c in core.handle(inp):
            if isinstance(c, Emit):
                iv.events.append((time.monotonic(), c.event))
                if isinstance(c.event, ev.Report):
                    iv.report = c.event.report
            elif isinstance(c, RequestJob):
                job = c.job
                if isinstance(job, jb.LlmJob):
                    sched.submit(job, c.deadline)
                elif isinstance(job, jb.TtsJob):
                    results.put(
                        jb.JobError(
                            job_id=job.job_id,
                            kind="tts",
                            code="unavailable",
                            message="no TTS in this benchmark",
                        )
                    )
                elif isinstance(job, jb.EmbedJob):
                    results.put(jb.EmbedResult(job_id=job.job_id, chunks=[], stored=0))

    feed(ClientInput(ev.Attach(), time.monotonic()))
    iv.started = time.monotonic()
    feed(
        ClientInput(
            ev.Start(
                role=profile["role"],
                language=profile["language"],
                difficulty=profile["difficulty"],
                questions=questions,
                resume_text=profile["resume"],
                job_posting=profile["posting"],
            ),
            time.monotonic(),
        )
    )
    last_tick = time.monotonic()
    limit = time.monotonic() + 900
    while iv.report is None and time.monotonic() < limit:
        try:
            r = results.get(timeout=0.02)
            feed(JobResultIn(r, time.monotonic()))
            continue
        except queue.Empty:
            pass
        now = time.monotonic()
        if now - last_tick >= 0.1:
            last_tick = now
            feed(Tick(now))
        st = core.state
        if st.phase == "listening" and st.listen.turn not in answered_turns and not pending:
            kind, index = st.current.kind or "main", st.current.index
            pending.append((now + think_s, _answer_for(profile, cases, kind, index)))
            answered_turns.add(st.listen.turn)
        if pending and now >= pending[0][0]:
            _, text = pending.pop(0)
            iv.answers.append((now, st.listen.turn, st.current.kind or "main", text))
            feed(ClientInput(ev.AnswerText(text=text), now))
    return iv


# --- figures ------------------------------------------------------------------------------


def _grounded(text: str, profile: dict[str, Any]) -> bool:
    low = text.casefold()
    if any(t.casefold() in low for t in profile["terms"]):
        return True
    docs = (profile["resume"] + "\n" + profile["posting"]).casefold()
    return bool(profile["resume"] or profile["posting"]) and any(
        q.casefold() in docs for q in _quoted(text)
    )


def _quoted(text: str) -> Iterator[str]:
    import re

    for m in re.finditer(r"[“\"]([^”\"]{6,200})[”\"]", text):
        yield m.group(1)


def _on_role(text: str, profile: dict[str, Any], bank_texts: dict[str, str]) -> bool:
    if _grounded(text, profile) and (profile["resume"] or profile["posting"]):
        return True
    role = bank_texts.get(" ".join(text.split()))
    return role in (profile["role"], "general")


def _report_sentences(report: dict[str, Any]) -> list[str]:
    out = [report.get("summary", "")]
    out += list(report.get("strengths", [])) + list(report.get("improvements", []))
    for a in report.get("answers", []):
        out += list(a.get("strengths", [])) + list(a.get("improvements", []))
        if a.get("feedback"):
            out.append(a["feedback"])
    return [s for s in out if s]


def _pct(num: int, den: int) -> str:
    return f"{num}/{den} ({100 * num / den:.0f} %)" if den else "n/a"


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def evaluate(ivs: list[Interview], pairs: list[tuple[str, str, float, float]]) -> dict[str, Any]:
    bank_texts: dict[str, str] = {" ".join(q.text.split()): q.role for q in load_bank()}
    rows: dict[str, dict[str, list[int]]] = {}
    first_q: list[float] = []
    to_next: list[float] = []
    to_fup_q: list[float] = []
    to_report: list[float] = []
    repeats = 0
    expired = 0
    hostile_rel: list[float] = []
    impure: list[str] = []
    fup_ok = fup_all = 0
    for iv in ivs:
        lang = iv.profile["language"]
        r = rows.setdefault(lang, {"grounded": [0, 0], "on_role": [0, 0]})
        qs = iv.questions()
        mains = [x for _, k, x in qs if k == "main"]
        for text in mains:
            if iv.profile["resume"] or iv.profile["posting"]:
                r["grounded"][0] += _grounded(text, iv.profile)
                r["grounded"][1] += 1
            r["on_role"][0] += _on_role(text, iv.profile, bank_texts)
            r["on_role"][1] += 1
        repeats += sum(
            1 for i, a in enumerate(mains) for b in mains[i + 1 :] if near_duplicate(a, b)
        )
        for _, k, text in qs:
            if k in ("main", "followup", "closing", "greeting") and not language_pure(text, lang):
                # a Korean question may quote an English résumé line: judge it without quotes
                bare = text
                for q in _quoted(text):
                    bare = bare.replace(q, "")
                if not language_pure(bare, lang):
                    impure.append(f"[{iv.profile['id']}] {text}")
        answers = {turn: text for _, turn, _, text in iv.answers}
        for turn, k, text in qs:
            if k == "followup":
                fup_all += 1
                prev = answers.get(turn - 1, "")
                fup_ok += bool(quote_in(text, prev))
        first = next(
            (t for t, e in iv.events if isinstance(e, ev.Question) and e.kind == "main"), None
        )
        if first is not None:
            first_q.append(first - iv.started)
        for t_ans, turn, _, _ in iv.answers:
            nxt = [
                (t, e)
                for t, e in iv.events
                if isinstance(e, ev.Question) and e.turn > turn and e.kind in ("main", "followup")
            ]
            if nxt:
                to_next.append(nxt[0][0] - t_ans)
                e_first = nxt[0][1]
                if e_first.kind == "followup":
                    full = [t for t, e in nxt if e.turn == e_first.turn and e.text.endswith("?")]
                    if full:
                        to_fup_q.append(full[0] - t_ans)
        if iv.report is not None and iv.answers:
            t_rep = next(t for t, e in iv.events if isinstance(e, ev.Report))
            to_report.append(t_rep - iv.answers[-1][0])
            for a in iv.report["answers"]:
                if a["answer"] == _hostile_text(iv):
                    hostile_rel.append(float(a["scores"].get("relevance", 5)))
            for s in _report_sentences(iv.report):
                if not language_pure(s, lang):
                    bare = s
                    for q in _quoted(s):
                        bare = bare.replace(q, "")
                    if not language_pure(bare, lang):
                        impure.append(f"[{iv.profile['id']}] report: {s}")
        if iv.core is not None:
            expired += iv.core.state.counters.deadlines_expired
    n_lang_sentences = sum(
        len(iv.questions()) + len(_report_sentences(iv.report or {})) for iv in ivs
    )
    strong_wins = sum(1 for _, _, s, w in pairs if s > w)
    return {
        "grounded": {k: v["grounded"] for k, v in rows.items()},
        "on_role": {k: v["on_role"] for k, v in rows.items()},
        "repeats": repeats,
        "followup_reference": [fup_ok, fup_all],
        "strong_over_weak": [strong_wins, len(pairs)],
        "pairs": pairs,
        "grader_directed_relevance": hostile_rel,
        "language_impure": impure,
        "language_checked": n_lang_sentences,
        "latency_s": {
            "first_question": first_q,
            "answer_to_next_question_first_sentence": to_next,
            "answer_to_followup_question": to_fup_q,
            "last_answer_to_report": to_report,
        },
        "deadlines_expired": expired,
    }


def _hostile_text(iv: Interview) -> str:
    return str(_CASES["hostile"][iv.profile["language"]])


_CASES: dict[str, Any] = {}


def score_pairs(engine: LlmEngine, iv: Interview) -> list[tuple[str, str, float, float]]:
    """Strong vs weak on questions 1 and 2: the interview scored one, score the other."""
    out: list[tuple[str, str, float, float]] = []
    if iv.report is None:
        return out
    lang = iv.profile["language"]
    for a in iv.report["answers"]:
        if a["kind"] != "main" or a["index"] not in (1, 2):
            continue
        level = "strong" if a["index"] == 1 else "weak"
        other = "weak" if level == "strong" else "strong"
        text = iv.profile["answers"][str(a["index"])][other]
        job = jb.LlmJob(
            job_id=f"pair:{iv.profile['id']}:{a['index']}",
            session_id=f"pair-{iv.profile['id']}",
            task="assess",
            language=lang,
            role=iv.profile["role"],
            difficulty=iv.profile["difficulty"],
            question=a["question"],
            answer=text,
        )
        data = engine.assess(job, threading.Event())
        parsed = parse_assessment(msgspec.convert(data, jb.Rubric))
        if parsed is None:
            continue
        other_overall = honest_assessment(parsed, a["question"], text, lang).overall
        given = float(a["overall"])
        strong, weak = (given, other_overall) if level == "strong" else (other_overall, given)
        out.append((iv.profile["id"], a["question"], strong, weak))
    return out


# --- output -------------------------------------------------------------------------------


def print_interview(iv: Interview) -> None:
    p = iv.profile
    print(
        f"\n=== {p['id']} ({p['language']}, {p['role']}, "
        f"{'résumé + posting' if p['resume'] else 'no documents'}) ==="
    )
    answers = {turn: text for _, turn, _, text in iv.answers}
    for turn, kind, text in iv.questions():
        print(f"  [{kind}] {text}")
        if turn in answers:
            print(f"      candidate: {answers[turn]}")
    if iv.report:
        print(f"  report: overall {iv.report['overall']}, scores {iv.report['scores']}")
        print(f"  summary: {iv.report['summary']}")
        for a in iv.report["answers"]:
            print(
                f"   - [{a['kind']} {a['index']}] anchor={a.get('anchor', '')!r} "
                f"overall {a['overall']} {a['scores']}"
            )
            print(f"     strengths: {a['strengths']}")
            print(f"     improvements: {a['improvements']}")
            print(f"     feedback: {a['feedback']}")


def print_table(f: dict[str, Any]) -> None:
    def row(name: str, value: str) -> None:
        print(f"| {name} | {value} |")

    print("\n| what | measured |\n|---|---|")
    for lang, (n, d) in sorted(f["grounded"].items()):
        row(f"main questions grounded ({lang})", _pct(n, d))
    for lang, (n, d) in sorted(f["on_role"].items()):
        row(f"main questions on the role ({lang})", _pct(n, d))
    row("repeated main questions (near-duplicate pairs)", str(f["repeats"]))
    row("follow-ups quoting the answer", _pct(*f["followup_reference"]))
    row("strong answer scored above weak, same question", _pct(*f["strong_over_weak"]))
    rel = f["grader_directed_relevance"]
    row("grader-directed answers: relevance", ", ".join(f"{x:.0f}" for x in rel) or "n/a")
    bad = len(f["language_impure"])
    row("language purity (sentences)", _pct(f["language_checked"] - bad, f["language_checked"]))
    lat = f["latency_s"]
    for key, label in (
        ("first_question", "`start` → first question shown"),
        ("answer_to_next_question_first_sentence", "typed answer → next question shown"),
        ("answer_to_followup_question", "typed answer → follow-up question sentence"),
        ("last_answer_to_report", "last answer → report"),
    ):
        v = lat[key]
        row(
            label,
            f"p50 {_p(v, 0.5):.1f} s, p95 {_p(v, 0.95):.1f} s, max "
            f"{max(v) if v else float('nan'):.1f} s (n={len(v)})",
        )
    row("deadlines expired", str(f["deadlines_expired"]))


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="parley bench quality")
    ap.add_argument("--models", choices=("real", "deterministic"), default="real")
    ap.add_argument("--questions", type=int, default=3)
    ap.add_argument(
        "--think",
        type=float,
        default=6.0,
        help="seconds the candidate takes before each typed answer",
    )
    ap.add_argument("--only", default="", help="comma-separated profile ids")
    ap.add_argument("--json", type=Path, default=Path("bench-quality.json"))
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cases = json.loads(CASES.read_text(encoding="utf-8"))
    _CASES.update(cases)
    profiles = [p for p in cases["profiles"] if not a.only or p["id"] in a.only.split(",")]
    from actors.models.registry import build_llm

    engine = build_llm(a.models)
    t = time.monotonic()
    engine.load()
    print(
        f"LLM {engine.name} loaded in {time.monotonic() - t:.1f} s; {len(profiles)} profiles, "
        f"{a.questions} questions, candidate thinks {a.think:.0f} s per answer"
    )
    results: queue.Queue[jb.Result] = queue.Queue()
    sched = Scheduler(engine, results)
    ivs: list[Interview] = []
    pairs: list[tuple[str, str, float, float]] = []
    try:
        for p in profiles:
            t = time.monotonic()
            iv = run_interview(p, cases, sched, results, a.questions, a.think)
            ivs.append(iv)
            print_interview(iv)
            print(f"  ({time.monotonic() - t:.0f} s)")
            if iv.core is not None:
                sched.dropped.add(iv.core.state.session_id)
            while not results.empty():  # results of jobs the finished interview dropped
                results.get_nowait()
        sched.stop()
        for iv in ivs:
            pairs += score_pairs(engine, iv)
    finally:
        sched.stop()
    figures = evaluate(ivs, pairs)
    figures["preemptions"] = sched.preemptions
    print_table(figures)
    if figures["language_impure"]:
        print("\nsentences failing the language check:")
        for s in figures["language_impure"]:
            print("  " + s)
    out = {
        "figures": figures,
        "interviews": [
            {
                "profile": iv.profile["id"],
                "questions": iv.questions(),
                "answers": [(turn, kind, text) for _, turn, kind, text in iv.answers],
                "report": iv.report,
            }
            for iv in ivs
        ],
    }
    a.json.write_text(json.dumps(msgspec.to_builtins(out), ensure_ascii=False, indent=1))
    print(f"\nresults: {a.json}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
