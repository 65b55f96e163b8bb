"""``parley bench quality``: the interviewer's quality on cases that look like users, on the
real models, with the held-out half reported apart from the half it was tuned on.

Runs typed interviews one at a time through the real session core (the sans-I/O state
machine a node runs) with the real LLM behind a scheduler that behaves like the LLM actor
(live jobs first, assessments preempted and resumed) and the real embedding model answering
``relate`` jobs as the embed actor does (:mod:`bench.quality_models`). Not in the loop:
speech (answers are typed), TTS (text is measured when shown) and retrieval (the plan does
not use it).

Cases (:mod:`bench.quality_cases`): the team's tidy profiles and the external ones (prose,
PDF-broken, LinkedIn, other roles, career changer, long, no numbers; English and Korean),
split once into a ``tune`` and a ``heldout`` half by a hash of their ids. Each interview
answers question 1 with the strong answer about the claim it asks about, question 2 with a
weak one, question 3 with a grader-directed answer of the same half, later questions
strongly; the other answer of questions 1 and 2 is scored too (strong vs weak on the same
question). Then every grader-directed, off-topic and genuine-but-scoring-words answer of
the chosen halves is scored on its own against a question of that language, through the
same path as in an interview (reading by the embedding model, assessment without what talks
to the grader, the report's rules).

Figures (:mod:`bench.quality_figures` says how each is decided), per set, half and
language: grounded and substantively grounded main questions, near-duplicate main questions,
follow-ups quoting the answer and follow-ups quoting what they must not, strong above weak
and the mean gap, relevance of grader-directed / off-topic / genuine answers, strengths that
quote a non-claim, language purity, latencies (``start`` → first question, typed answer →
next question, last answer → report), deadlines expired. ``--pace human`` waits 20-60 s
before each answer.

Prints every interview for a person to read, the tables, and writes the results as JSON.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import json
import logging
import queue
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from actors.bank import load_bank
from actors.interview.answers import quote_in
from actors.interview.language import language_pure
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
from actors.session.report import (
    grader_assessment,
    heuristic_assessment,
    honest_assessment,
    parse_assessment,
)
from actors.session.state import Analysis, Assessment
from actors.session.understanding import analysis_job, analysis_of
from bench.quality_cases import AnswerSets, Profile, answer_for, load
from bench.quality_figures import (
    follow_up_problem,
    near_duplicate_pairs,
    quoted,
    strength_problem,
    substantive,
)
from bench.quality_models import EmbedService, RemoteLlm, Scheduler, build_embedder
from bus import events as ev
from bus import jobs as jb

log = logging.getLogger("bench.quality")


@dataclass
class Interview:
    profile: Profile
    events: list[tuple[float, ev.ServerEvent]] = field(default_factory=list)
    answers: list[tuple[float, int, str, str]] = field(default_factory=list)  # t, turn, kind, text
    grader_answer: str = ""
    report: dict[str, Any] | None = None
    started: float = 0.0
    core: SessionCore | None = None
    pairs: list[tuple[str, float, float]] = field(default_factory=list)

    def questions(self) -> list[tuple[int, str, str]]:
        """(turn, kind, full text) of every interviewer question, in order."""
        by_turn: dict[int, tuple[str, str]] = {}
        for _, e in self.events:
            if isinstance(e, ev.Question):
                by_turn[e.turn] = (e.kind, e.text)
        return [(t, k, x) for t, (k, x) in sorted(by_turn.items())]

    def mains(self) -> list[str]:
        return [x for _, k, x in self.questions() if k == "main"]

    @property
    def group(self) -> str:
        p = self.profile
        return f"{p.set}/{p.half or '-'}/{p.language}"


def _think(profile: Profile, turn: int, pace: str, think_s: float) -> float:
    if pace != "human":
        return think_s
    return 20.0 + zlib.crc32(f"{profile.id}:{turn}".encode()) % 41  # 20-60 s, repeatable


def _grader_pool(sets: AnswerSets, profile: Profile) -> list[str]:
    pool = [t for _, t, h in sets.grader.get(profile.language, []) if h == profile.half]
    return pool or [t for _, t, _ in sets.grader.get(profile.language, [])]


def run_interview(
    profile: Profile,
    sets: AnswerSets,
    sched: Scheduler,
    embed: EmbedService,
    results: queue.Queue[jb.Result],
    questions: int,
    pace: str,
    think_s: float,
    nth: int,
) -> Interview:
    core = SessionCore.new(f"q-{profile.id}"[:40], CoreConfig(), load_bank(), default_phrases)
    iv = Interview(profile=profile, core=core)
    pool = _grader_pool(sets, profile)
    iv.grader_answer = pool[nth % len(pool)] if pool else ""
    pending: list[tuple[float, str]] = []  # (when, text) of the candidate's next answer
    answered: set[int] = set()

    def feed(inp: Any) -> None:
        pings: list[int] = []
        for c in core.handle(inp):
            if isinstance(c, Emit):
                iv.events.append((time.monotonic(), c.event))
                if isinstance(c.event, ev.Report):
                    iv.report = c.event.report
                if isinstance(c.event, ev.Ping):  # a page answers the heartbeat
                    pings.append(c.event.id)
            elif isinstance(c, RequestJob):
                job = c.job
                if isinstance(job, jb.LlmJob):
                    sched.submit(job, c.deadline)
                elif isinstance(job, jb.EmbedJob):
                    embed.submit(job)
                elif isinstance(job, jb.TtsJob):
                    results.put(
                        jb.JobError(
                            job_id=job.job_id, kind="tts", code="unavailable", message="no TTS"
                        )
                    )
        for ping in pings:
            feed(ClientInput(ev.Pong(id=ping), time.monotonic()))

    def answer(kind: str, index: int, question: str) -> str:
        if kind == "followup":
            return sets.followup_answer[profile.language]
        if index == 3 and iv.grader_answer:
            return iv.grader_answer
        if index == 2:
            return answer_for(profile, question, "weak")[0]
        return answer_for(profile, question, "strong")[0]

    feed(ClientInput(ev.Attach(), time.monotonic()))
    iv.started = time.monotonic()
    start = ev.Start(
        role=profile.role,  # type: ignore[arg-type]
        language=profile.language,  # type: ignore[arg-type]
        difficulty=profile.difficulty,  # type: ignore[arg-type]
        questions=questions,
        resume_text=profile.resume,
        job_posting=profile.posting,
    )
    feed(ClientInput(start, time.monotonic()))
    last_tick = time.monotonic()
    limit = time.monotonic() + 900 + (questions * 2 * 60 if pace == "human" else 0)
    quiet_since, seen = time.monotonic(), 0
    while iv.report is None and time.monotonic() < limit:
        if len(iv.events) != seen:
            quiet_since, seen = time.monotonic(), len(iv.events)
        elif time.monotonic() - quiet_since > 120:  # say what it waits for
            st = core.state
            jobs = {jid: j.purpose for jid, j in st.jobs.items()}
            air = st.air
            print(
                f"  [stalled 120 s in phase {st.phase}; live jobs {jobs}; air "
                f"{(air.kind, air.plan, len(air.sentences)) if air else None}; prepared "
                f"{(st.prepared.index, st.prepared.complete) if st.prepared else None}; "
                f"followup {st.followup is not None}; planned {st.main_planned} asked "
                f"{st.main_asked} of {st.settings.total if st.settings else 0}; "
                f"plan {len(st.plan)}]",
                flush=True,
            )
            quiet_since = time.monotonic()
        try:
            feed(JobResultIn(results.get(timeout=0.02), time.monotonic()))
            continue
        except queue.Empty:
            pass
        now = time.monotonic()
        if now - last_tick >= 0.1:
            last_tick = now
            feed(Tick(now))
        st = core.state
        if st.phase == "listening" and st.listen.turn not in answered and not pending:
            kind, index = st.current.kind or "main", st.current.index
            wait = _think(profile, st.listen.turn, pace, think_s)
            pending.append((now + wait, answer(kind, index, st.current.text)))
            answered.add(st.listen.turn)
        if pending and now >= pending[0][0]:
            _, text = pending.pop(0)
            iv.answers.append((now, st.listen.turn, st.current.kind or "main", text))
            feed(ClientInput(ev.AnswerText(text=text), now))
    return iv


# --- scoring one answer outside an interview --------------------------------------------------


def score_answer(
    engine: Any,
    embed: EmbedService,
    profile_lang: str,
    role: str,
    question: str,
    answer: str,
    key: str,
) -> tuple[Assessment, Analysis]:
    """The assessment an answer gets in an interview: read by the embedding model, assessed
    without what talks to the grader, then the report's rules."""
    cfg = CoreConfig()
    job = analysis_job(f"{key}:analyse", "bench-score", profile_lang, question, "", answer)
    result = embed.relate_now(job) if job is not None else None
    analysis = analysis_of(cfg, answer, result)
    clean = analysis.clean(answer)
    a: Assessment | None
    if analysis.grader and not clean.strip():
        a = grader_assessment()
    else:
        llm_job = jb.LlmJob(
            job_id=f"{key}:assess",
            session_id="bench-score",
            task="assess",
            language=profile_lang,
            role=role,
            question=question,
            answer=clean,
        )
        a = parse_assessment(msgspec.convert(engine.assess(llm_job, threading.Event()), jb.Rubric))
        a = a or heuristic_assessment(question, answer, profile_lang)
    return honest_assessment(a, question, answer, profile_lang, (), analysis), analysis


def score_pairs(engine: Any, embed: EmbedService, iv: Interview) -> None:
    """Strong vs weak on questions 1 and 2: the interview scored one, score the other."""
    if iv.report is None:
        return
    p = iv.profile
    for a in iv.report["answers"]:
        if a["kind"] != "main" or a["index"] not in (1, 2):
            continue
        given_level = "strong" if a["index"] == 1 else "weak"
        other, _ = answer_for(p, a["question"], "weak" if given_level == "strong" else "strong")
        scored, _ = score_answer(
            engine, embed, p.language, p.role, a["question"], other, f"pair:{p.id}:{a['index']}"
        )
        given = float(a["overall"])
        strong, weak = (
            (given, scored.overall) if given_level == "strong" else (scored.overall, given)
        )
        iv.pairs.append((a["question"], strong, weak))


@dataclass
class Scored:
    set: str  # grader, off_topic, genuine
    id: str
    language: str
    half: str
    question: str
    answer: str
    relevance: float
    overall: float
    flagged: list[str]
    similarity: float | None
    strengths: list[str]


def score_sets(
    engine: Any, embed: EmbedService, sets: AnswerSets, ivs: list[Interview], halves: set[str]
) -> list[Scored]:
    """Every standalone answer of the chosen halves, each against a main question asked in
    this run's interviews of its language (in turn)."""
    out: list[Scored] = []
    for set_name, table in (
        ("grader", sets.grader),
        ("off_topic", sets.off_topic),
        ("genuine", sets.genuine),
    ):
        for lang, items in sorted(table.items()):
            qs = [q for iv in ivs if iv.profile.language == lang for q in iv.mains()]
            qs = qs or [q.text for q in load_bank() if q.language == lang][:8]
            roles = [iv.profile.role for iv in ivs if iv.profile.language == lang] or ["general"]
            for n, (item_id, text, half) in enumerate(items):
                h = half or "team"
                if half is not None and h not in halves:
                    continue
                question = qs[n % len(qs)]
                a, analysis = score_answer(
                    engine, embed, lang, roles[n % len(roles)], question, text, item_id
                )
                out.append(
                    Scored(
                        set=set_name,
                        id=item_id,
                        language=lang,
                        half=h,
                        question=question,
                        answer=text,
                        relevance=a.scores.get("relevance", 0.0),
                        overall=a.overall,
                        flagged=analysis.grader_text(),
                        similarity=analysis.similarity,
                        strengths=list(a.strengths),
                    )
                )
    return out


# --- figures ------------------------------------------------------------------------------


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def _bank_texts() -> dict[str, str]:
    return {" ".join(q.text.split()): q.role for q in load_bank()}


def interview_figures(ivs: list[Interview]) -> dict[str, dict[str, Any]]:
    """Per group (set/half/language): the counts behind every interview figure."""
    bank = _bank_texts()
    groups: dict[str, dict[str, Any]] = {}
    for iv in ivs:
        g = groups.setdefault(
            iv.group,
            {
                "interviews": 0,
                "mains": 0,
                "grounded": [0, 0],
                "substantive": [0, 0],
                "on_role": [0, 0],
                "near_duplicates": [],
                "followups_quoting": [0, 0],
                "followup_problems": [],
                "pairs": [],
                "strengths": [0, 0],
                "strength_problems": [],
                "impure": [],
                "sentences": 0,
                "first_question_s": [],
                "answer_to_next_s": [],
                "last_answer_to_report_s": [],
                "deadlines_expired": 0,
            },
        )
        p = iv.profile
        g["interviews"] += 1
        mains = iv.mains()
        g["mains"] += len(mains)
        docs = bool(p.resume or p.posting)
        for q in mains:
            if docs:
                g["substantive"][0] += substantive(q, p)
                g["substantive"][1] += 1
                grounded = any(_norm(x) in _norm(p.resume + " " + p.posting) for x in quoted(q))
                g["grounded"][0] += grounded or substantive(q, p)
                g["grounded"][1] += 1
            role = bank.get(" ".join(q.split()))
            g["on_role"][0] += (docs and substantive(q, p)) or role in (p.role, "general")
            g["on_role"][1] += 1
        g["near_duplicates"].append(near_duplicate_pairs(mains))
        answers = {turn: text for _, turn, _, text in iv.answers}
        for turn, kind, text in iv.questions():
            if kind == "followup":
                prev = answers.get(turn - 1, "")
                g["followups_quoting"][0] += bool(quote_in(text, prev))
                g["followups_quoting"][1] += 1
                grader = iv.grader_answer if prev == iv.grader_answer else ""
                why = follow_up_problem(text, prev, grader)
                if why:
                    g["followup_problems"].append(f"[{p.id}] {why}: {text}")
            if kind in ("main", "followup", "closing", "greeting"):
                g["sentences"] += 1
                if not _pure(text, p.language):
                    g["impure"].append(f"[{p.id}] {text}")
        g["pairs"] += [(p.id, q, s, w) for q, s, w in iv.pairs]
        first = next(
            (t for t, e in iv.events if isinstance(e, ev.Question) and e.kind == "main"), None
        )
        if first is not None:
            g["first_question_s"].append(first - iv.started)
        for t_ans, turn, _, _ in iv.answers:
            nxt = [
                t
                for t, e in iv.events
                if isinstance(e, ev.Question) and e.turn > turn and e.kind in ("main", "followup")
            ]
            if nxt:
                g["answer_to_next_s"].append(nxt[0] - t_ans)
        if iv.report is not None:
            if iv.answers:
                t_rep = next(t for t, e in iv.events if isinstance(e, ev.Report))
                g["last_answer_to_report_s"].append(t_rep - iv.answers[-1][0])
            for a in iv.report["answers"]:
                for s in a["strengths"]:
                    if not list(quoted(s)):
                        continue
                    g["strengths"][1] += 1
                    why = strength_problem(s, a["answer"])
                    if a["answer"] == iv.grader_answer:
                        why = why or "praise for an answer to the grader"
                    if why:
                        g["strength_problems"].append(f"[{p.id}] {why}: {s}")
                    else:
                        g["strengths"][0] += 1
            for s in _report_sentences(iv.report):
                g["sentences"] += 1
                if not _pure(s, p.language):
                    g["impure"].append(f"[{p.id}] report: {s}")
        if iv.core is not None:
            g["deadlines_expired"] += iv.core.state.counters.deadlines_expired
    return groups


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[\"'“”‘’.,!?]", " ", text).lower().split())


def _pure(text: str, lang: str) -> bool:
    """In the interview language, once quotes of the documents are taken out."""
    if language_pure(text, lang):
        return True
    bare = text
    for q in quoted(text):
        bare = bare.replace(q, "")
    return language_pure(bare, lang)


def _report_sentences(report: dict[str, Any]) -> list[str]:
    out = [report.get("summary", "")]
    out += list(report.get("strengths", [])) + list(report.get("improvements", []))
    for a in report.get("answers", []):
        out += list(a.get("strengths", [])) + list(a.get("improvements", []))
        if a.get("feedback"):
            out.append(a["feedback"])
    return [s for s in out if s]


def set_figures(scored: list[Scored]) -> dict[str, dict[str, Any]]:
    """Per group (half/language) and set: relevance ≤ 2 counts and the flagged sentences."""
    out: dict[str, dict[str, Any]] = {}
    for s in scored:
        g = out.setdefault(f"{s.half}/{s.language}", {})
        f = g.setdefault(s.set, {"low": 0, "n": 0, "relevance": [], "missed": []})
        f["n"] += 1
        f["relevance"].append(s.relevance)
        # grader-directed and off-topic answers must score relevance <= 2; a genuine answer
        # with scoring words is paired with an arbitrary question (so may well be off it):
        # what must not happen is that it is taken for talk to the grader
        low = s.relevance <= 2 if s.set != "genuine" else bool(s.flagged)
        f["low"] += low
        wrong = (not low) if s.set in ("grader", "off_topic") else low
        if wrong:
            f["missed"].append(
                f"{s.id} relevance {s.relevance:.0f} sim {s.similarity} flagged {len(s.flagged)}: "
                f"{s.answer[:90]}"
            )
    return out


# --- output -------------------------------------------------------------------------------


def print_interview(iv: Interview) -> None:
    p = iv.profile
    print(f"\n=== {p.id} ({p.language}, {p.role}, {p.source}, {p.set}/{p.half or '-'}) ===")
    answers = {turn: text for _, turn, _, text in iv.answers}
    for turn, kind, text in iv.questions():
        print(f"  [{kind}] {text}")
        if turn in answers:
            print(f"      candidate: {answers[turn]}")
    if iv.report:
        print(f"  report: overall {iv.report['overall']}, scores {iv.report['scores']}")
        for a in iv.report["answers"]:
            print(f"   - [{a['kind']} {a['index']}] overall {a['overall']} {a['scores']}")
            print(f"     strengths: {a['strengths']}")
            print(f"     improvements: {a['improvements']}")
            print(f"     feedback: {a['feedback']}")


def _frac(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f} %)" if n else "n/a"


def print_tables(groups: dict[str, dict[str, Any]], sets: dict[str, dict[str, Any]]) -> None:
    print("\n## Interviews\n")
    names = sorted(groups)
    print("| what | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))

    def row(label: str, fn: Any) -> None:
        print(f"| {label} | " + " | ".join(fn(groups[n]) for n in names) + " |")

    row("interviews", lambda g: str(g["interviews"]))
    row("main questions grounded", lambda g: _frac(*g["grounded"]))
    row("main questions substantively grounded", lambda g: _frac(*g["substantive"]))
    row("main questions on the role", lambda g: _frac(*g["on_role"]))
    row(
        "near-duplicate main questions (pairs; per interview max)",
        lambda g: f"{sum(g['near_duplicates'])} ({max(g['near_duplicates'], default=0)})",
    )
    row("follow-ups quoting the answer", lambda g: _frac(*g["followups_quoting"]))
    row(
        "follow-ups quoting grader text, scoring talk or code",
        lambda g: str(len(g["followup_problems"])),
    )
    row(
        "strong above weak, same question (mean gap)",
        lambda g: (
            _frac(sum(1 for *_, s, w in g["pairs"] if s > w), len(g["pairs"]))
            + (
                f", gap {sum(s - w for *_, s, w in g['pairs']) / len(g['pairs']):.2f}"
                if g["pairs"]
                else ""
            )
        ),
    )
    row(
        "strengths quoting a non-claim",
        lambda g: f"{len(g['strength_problems'])} of {g['strengths'][1]}",
    )
    row(
        "language purity (sentences)",
        lambda g: _frac(g["sentences"] - len(g["impure"]), g["sentences"]),
    )
    for key, label in (
        ("first_question_s", "`start` → first question"),
        ("answer_to_next_s", "typed answer → next question"),
        ("last_answer_to_report_s", "last answer → report"),
    ):
        row(
            f"{label} p50 / max (s)",
            lambda g, k=key: f"{_p(g[k], 0.5):.2f} / {max(g[k], default=float('nan')):.1f}",
        )
    row("deadlines expired", lambda g: str(g["deadlines_expired"]))
    if sets:
        print("\n## Answers scored on their own (grader-directed, off-topic: relevance ≤ 2)\n")
        keys = sorted(sets)
        print("| set | " + " | ".join(keys) + " |")
        print("|---|" + "---|" * len(keys))
        for name, label in (
            ("grader", "grader-directed (want ≤ 2)"),
            ("off_topic", "off-topic (want ≤ 2)"),
            ("genuine", "genuine answers with scoring words taken for talk to the grader"),
        ):
            cells = []
            for k in keys:
                f = sets[k].get(name)
                cells.append(_frac(f["low"], f["n"]) if f else "n/a")
            print(f"| {label} | " + " | ".join(cells) + " |")


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="parley bench quality")
    ap.add_argument("--models", choices=("real", "deterministic"), default="real")
    ap.add_argument(
        "--llm",
        default="embedded",
        help="embedded (the packaged model) or the base URL of an OpenAI-compatible server",
    )
    ap.add_argument("--llm-model", default="", help="the model name on that server")
    ap.add_argument("--cases", choices=("base", "external", "all"), default="all")
    ap.add_argument(
        "--half",
        choices=("tune", "heldout", "all"),
        default="all",
        help="which half of the external cases (the team's own cases always run)",
    )
    ap.add_argument("--questions", type=int, default=4)
    ap.add_argument("--pace", choices=("typed", "human"), default="typed")
    ap.add_argument("--think", type=float, default=6.0, help="seconds before each typed answer")
    ap.add_argument("--only", default="", help="comma-separated profile ids")
    ap.add_argument("--no-sets", action="store_true", help="skip the standalone answer sets")
    ap.add_argument("--json", type=Path, default=Path("bench-quality.json"))
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    profiles, sets = load(a.cases)
    halves = {"tune", "heldout"} if a.half == "all" else {a.half}
    profiles = [p for p in profiles if p.half is None or p.half in halves]
    if a.only:
        profiles = [p for p in profiles if p.id in a.only.split(",")]
    if a.llm == "embedded":
        from actors.models.registry import build_llm

        engine: Any = build_llm(a.models)
    else:
        engine = RemoteLlm(a.llm, a.llm_model)
    t = time.monotonic()
    engine.load()
    embedder = build_embedder(a.models)
    results: queue.Queue[jb.Result] = queue.Queue()
    embed = EmbedService(embedder, results)
    print(
        f"LLM {engine.name} and embedder {embedder.name} ready in {time.monotonic() - t:.1f} s; "
        f"{len(profiles)} profiles, {a.questions} questions, pace {a.pace}"
    )
    sched = Scheduler(engine, results)
    ivs: list[Interview] = []
    try:
        for n, p in enumerate(profiles):
            t = time.monotonic()
            iv = run_interview(p, sets, sched, embed, results, a.questions, a.pace, a.think, n)
            ivs.append(iv)
            print_interview(iv)
            print(f"  ({time.monotonic() - t:.0f} s)")
            if iv.core is not None:
                sched.dropped.add(iv.core.state.session_id)
            while not results.empty():  # results of jobs the finished interview dropped
                results.get_nowait()
    finally:
        sched.stop()
        embed.stop()
    for iv in ivs:
        score_pairs(engine, embed, iv)
    scored = [] if a.no_sets else score_sets(engine, embed, sets, ivs, halves | {"team"})
    groups = interview_figures(ivs)
    by_set = set_figures(scored)
    print_tables(groups, by_set)
    for name, g in sorted(groups.items()):
        for key in ("followup_problems", "strength_problems", "impure"):
            for line in g[key]:
                print(f"{name} {key}: {line}")
    for name, g in sorted(by_set.items()):
        for set_name, f in g.items():
            for line in f["missed"]:
                print(f"{name} {set_name} missed: {line}")
    out = {
        "interviews": [
            {
                "profile": iv.profile.id,
                "group": iv.group,
                "questions": iv.questions(),
                "answers": [(turn, kind, text) for _, turn, kind, text in iv.answers],
                "report": iv.report,
                "pairs": iv.pairs,
            }
            for iv in ivs
        ],
        "figures": groups,
        "sets": by_set,
        "scored": [s.__dict__ for s in scored],
    }
    a.json.write_text(json.dumps(msgspec.to_builtins(out), ensure_ascii=False, indent=1))
    print(f"\nresults: {a.json}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
