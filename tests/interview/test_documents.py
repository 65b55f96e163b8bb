"""Reading résumés and postings as people paste them: prose, PDF text, Korean, LinkedIn."""

from __future__ import annotations

from actors.interview.documents import need_phrase, read_documents
from actors.interview.quoting import key_phrase, quotable
from actors.interview.segments import segments

PROSE = (
    "I am a backend engineer with eight years of experience. At Paylane (2021-2025) I built "
    "a payments ledger processing 4 million transactions a day on Go and PostgreSQL, and I "
    "cut p99 latency from 900 ms to 120 ms by adding a Redis cache. Before that, at Orbit "
    "Travel (2017-2021), I led a team of 5 engineers migrating 30 services to Kubernetes.\n\n"
    "Education: B.S. Computer Science, State University, 2016"
)

PDF = """EXPERIENCE
Northwind Health — Product Manager                                  2020 – Present
• Redesigned the onboarding flow for new pa-
tients, cutting drop-off from 40% to 22% in
two quarters
Page 1 of 2
Brightwater Clinic — Operations Analyst 2017 – 2020
• Built a Tableau dashboard of wait times used by 12 clinics"""

KOREAN = (
    "경력\n2019.03 ~ 2023.02 한빛커머스 데이터 엔지니어\n"
    "- Kafka 기반 주문 이벤트 파이프라인 구축 (일 3억 건 처리)\n"
    "- 4명의 팀을 이끌고 BigQuery로 웨어하우스 이전\n"
    "누리페이에서 2016년부터 2019년까지 정산 배치를 담당하며 처리 시간을 6시간에서 2시간으로 "
    "단축했습니다."
)


def test_a_prose_sentence_keeps_its_employer_technologies_and_numbers() -> None:
    docs = read_documents(PROSE, "")
    assert docs.employers == ["Paylane", "Orbit Travel"]
    texts = [c.text for c in docs.claims]
    # two achievements of one sentence are two claims; the lead-in naming the employer
    # ("At Paylane (2021-2025)") is not part of what is quoted
    assert texts[0].startswith("I built a payments ledger")
    assert texts[1].startswith("I cut p99 latency")
    first, second, third = docs.claims[:3]
    assert first.employer == "Paylane" and {"Go", "PostgreSQL"} <= set(first.techs)
    assert "4 million" in first.numbers and first.action
    assert second.employer == "Paylane" and "Redis" in second.techs
    assert third.employer == "Orbit Travel" and third.people and third.kind == "leadership"
    assert not any("University" in t for t in texts)  # education is not a claim
    assert "Education" not in docs.employers


def test_pdf_text_is_put_back_into_sentences() -> None:
    parts = segments(PDF)
    assert (
        "Redesigned the onboarding flow for new patients, cutting drop-off from 40% to 22% "
        "in two quarters"
    ) in parts
    assert not any(p.startswith("Page") for p in parts)
    docs = read_documents(PDF, "")
    assert docs.employers == ["Northwind Health", "Brightwater Clinic"]
    claim = docs.claims[0]
    assert claim.employer == "Northwind Health" and "40%" in claim.numbers
    assert docs.claims[1].employer == "Brightwater Clinic"
    assert "12 clinics" in docs.claims[1].numbers


def test_korean_bullets_and_prose() -> None:
    docs = read_documents(KOREAN, "")
    assert docs.employers == ["한빛커머스", "누리페이"]
    texts = [c.text for c in docs.claims]
    assert texts[0] == "Kafka 기반 주문 이벤트 파이프라인 구축 (일 3억 건 처리)"
    assert texts[1] == "4명의 팀을 이끌고 BigQuery로 웨어하우스 이전"  # not joined to the next
    assert texts[2].startswith("정산 배치를 담당하며")
    assert docs.claims[2].employer == "누리페이"
    assert "2016년" not in docs.claims[2].numbers  # a year is no result
    assert key_phrase(texts[0]) == "이벤트 파이프라인"


def test_posting_requirements_by_section() -> None:
    posting = (
        "What you'll do\n- Own our event streaming platform\n"
        "What we're looking for\n- Strong experience with event streaming at scale\n"
        "- 5+ years building backend services in Go or Java\n"
        "Nice to have\n- Terraform\nBenefits\n- Remote-first, 30 days PTO"
    )
    reqs = read_documents("", posting).requirements
    must = [r.need for r in reqs if r.must]
    assert must == ["event streaming at scale", "building backend services in Go or Java"]
    assert not any("PTO" in r.text for r in reqs)
    assert [r.need for r in reqs if not r.must] == [
        "owning our event streaming platform",
        "Terraform",
    ]
    assert need_phrase("Proven experience with data modelling, SQL and dbt") == (
        "data modelling, SQL and dbt"
    )


def test_quotes_are_cut_at_phrase_boundaries() -> None:
    long = (
        "Designed and rolled out a new on-call process for 6 teams, cut pages at night by "
        "half, and wrote the runbooks that the whole platform group still uses today"
    )
    q = quotable(long, "runbooks", 12)
    assert q in long and "runbooks" in q
    assert len(q.split()) <= 12
    assert q.split()[-1] not in {"the", "that", "and", "of"}
    ko = "결제 시스템을 개편하면서 장애 대응 절차를 새로 만들고 4 명의 신입 엔지니어를 교육했습니다"
    q = quotable(ko, "", 5)
    assert not q.startswith(("명", "을", "를"))
    assert q in ko


def test_a_plan_never_repeats_a_template_and_names_claims_not_employers() -> None:
    from actors.interview.answers import near_duplicate
    from actors.session.plan import make_plan, template_question

    resume = (
        "At Paylane (2021-2025) I built a payments ledger on Go, and I cut p99 latency from "
        "900 ms to 120 ms with a Redis cache. At Orbit Travel (2017-2021) I led a team of 5 "
        "engineers migrating 30 services to Kubernetes. I also mentored two interns and "
        "wrote the on-call runbook."
    )
    for seed in range(12):
        for lang in ("en", "ko"):
            plan = make_plan(read_documents(resume, ""), 5, seed=seed)
            assert len({a.phrasing for a in plan}) == len(plan)
            assert all(a.kind != "employer" for a in plan[:4])  # claims come first
            qs = [template_question(a, lang) for a in plan]
            skeletons = [q.split("”")[-1] for q in qs]  # what follows the quote
            pairs = [
                (a, b)
                for i, a in enumerate(skeletons)
                for b in skeletons[i + 1 :]
                if near_duplicate(a, b)
            ]
            assert not pairs, (seed, lang, pairs)
            assert "At At" not in " ".join(qs) and "at At" not in " ".join(qs)
