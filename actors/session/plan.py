"""A question plan grounded by construction: items pulled out of the résumé and the job
posting with text rules, and one anchor per main question.

:func:`extract_items` finds technologies, numbers, employers and must-haves, each with
the source line it came from (always a verbatim piece of the document). :func:`make_plan`
picks up to ``n`` anchors on *different* items, mixing ``experience`` (a résumé line with a
result), ``technical`` (depth on a must-have of the posting, on the résumé line that shows
it when there is one) and ``behaviour`` (working with people, at an employer).
:func:`template_question` phrases a question about an anchor without any model; the LLM
may phrase it more naturally, but must name the anchor's term (checked by the caller).

Requirement ↔ experience matching is by the technology's name (case-insensitive), not by
embeddings: deterministic, instant, and checkable in the benchmark.
"""

from __future__ import annotations

__all__ = [
    "TECH_TERMS",
    "Anchor",
    "Item",
    "extract_items",
    "make_plan",
    "short_line",
    "template_question",
]

import re
from typing import Literal

import msgspec

Focus = Literal["experience", "technical", "behaviour"]

# Technologies a résumé or posting is likely to name (matched case-insensitively on word
# boundaries). Not exhaustive; CamelCase/ALLCAPS names are also taken (see _NAMEISH).
_TECH_WORDS = (
    "Python Java Kotlin Scala Go Golang Rust C++ C# TypeScript JavaScript Ruby PHP Swift SQL "
    "Spark PySpark Kafka Flink Airflow dbt Snowflake BigQuery Redshift Databricks Hadoop Hive "
    "Presto Trino Postgres PostgreSQL MySQL MongoDB Redis Cassandra DynamoDB Elasticsearch "
    "ClickHouse Kubernetes Docker Terraform AWS GCP Azure Lambda S3 EKS GKE Helm Prometheus "
    "Grafana React Vue Angular Next.js Node.js GraphQL REST gRPC Django Flask FastAPI Spring "
    "PyTorch TensorFlow scikit-learn XGBoost LightGBM MLflow Kubeflow pandas NumPy Tableau "
    "Looker Excel Jira Figma Amplitude Mixpanel Linux CI/CD Jenkins Git LLM NLP CUDA ONNX "
    "Triton Ray Jupyter R SAS Power BI ETL ELT A/B Webpack Vite Jest Cypress Storybook iOS "
    "Android Flutter RabbitMQ SQS Pub/Sub Iceberg Delta Parquet Feast Sagemaker Vertex"
).split()
# Case-sensitive ("Go" the language, not "go" the verb; "REST", not "the rest"), plus the
# lower-case spellings people really write.
_LOWER_OK = (
    "postgres kafka airflow kubernetes docker python redis terraform snowflake bigquery "
    "pytorch mlflow typescript javascript graphql mysql mongodb sql spark"
).split()
TECH_TERMS = re.compile(
    r"(?<![A-Za-z0-9])("
    + "|".join(re.escape(t) for t in sorted([*_TECH_WORDS, *_LOWER_OK], key=len, reverse=True))
    + r")(?![A-Za-z0-9+#])"
)
_NAMEISH = re.compile(r"(?<![A-Za-z])([A-Z][a-z]+[A-Z][A-Za-z]+|[A-Z]{2,6}[0-9]?)(?![A-Za-z])")
_NOT_TECH = {
    "I",
    "A",
    "AN",
    "THE",
    "CV",
    "PM",
    "HR",
    "CEO",
    "CTO",
    "BS",
    "MS",
    "BA",
    "MA",
    "PHD",
    "KPI",
    "OKR",
    "USA",
    "UK",
    "KR",
    "EN",
    "TODO",
    "TB",
    "GB",
    "MB",
    "KB",
    "QPS",
    "RPS",
    "MAU",
    "DAU",
}
_NUMBER = re.compile(
    r"\d[\d,.]*\s*(%|퍼센트|percent|ms|s\b|x\b|배|TB|GB|MB|k\b|K\b|M\b|만|억|천|명|건|개|시간|분|"
    r"users|customers|requests|rps|QPS|qps|hours|minutes|days|people|engineers)",
    re.IGNORECASE,
)
_YEARS = re.compile(r"\b(19|20)\d{2}\b")
_MUST = re.compile(
    r"must|required|requirement|need|experience (with|in)|proficien|strong|you have|"
    r"필수|자격|요건|경험|능숙|필요",
    re.IGNORECASE,
)
_NICE = re.compile(r"nice to have|preferred|bonus|plus|우대", re.IGNORECASE)
_PEOPLE = re.compile(
    r"\b(led|lead|leading|mentor\w*|team|managed|coordinat\w*|stakeholder\w*|cross-functional|"
    r"migrat\w*|hired|onboard\w*|partnered|collaborat\w*)\b|이끌|리드|멘토|팀|협업|주도|조율|"
    r"마이그레이션|관리",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*([-*•·▪◦]|\d+[.)])\s*")
_SPLIT = re.compile(r"(?<=[.!?。])\s+(?=[A-Z가-힣])")


class Item(msgspec.Struct, frozen=True, kw_only=True):
    """One concrete thing from a document: ``kind`` is tech, number, employer or must."""

    kind: str
    term: str
    line: str
    source: Literal["resume", "posting"]


class Anchor(msgspec.Struct, frozen=True, kw_only=True):
    """What one main question is about: ``term`` must appear in the question; ``line`` is
    the verbatim source line it comes from (``source``: resume, posting or bank)."""

    index: int
    focus: Focus
    term: str
    line: str
    source: str
    employer: str = ""


def _lines(text: str) -> list[str]:
    out: list[str] = []
    for raw in text.replace("\r", "").split("\n"):
        line = _BULLET.sub("", raw).strip(" \t|")
        if not line:
            continue
        out.extend(p.strip() for p in _SPLIT.split(line) if p.strip())
    return out[:200]


def _techs(line: str) -> list[str]:
    found = [m.group(1) for m in TECH_TERMS.finditer(line)]
    found += [m.group(1) for m in _NAMEISH.finditer(line) if m.group(1).upper() not in _NOT_TECH]
    seen: dict[str, str] = {}
    for t in found:
        seen.setdefault(t.casefold(), t)
    return list(seen.values())


def _employer(line: str) -> str:
    """The organisation on a job-history line ("Acme Corp — Data Engineer (2019–2023)")."""
    if not _YEARS.search(line):
        return ""
    head = re.split(r"\s[—–-]\s|\||,|\(|:|\s{2,}", line)[0].strip()
    head = _YEARS.sub("", head).strip(" -–—")
    m = re.search(r"\b(?:at|@)\s+([A-Z][\w&.\- ]{1,40})", line)
    if m:
        head = m.group(1).strip()
    if not head or len(head.split()) > 5 or _NUMBER.fullmatch(head):
        return ""
    return head


def extract_items(resume: str, posting: str) -> list[Item]:
    """Every concrete item of both documents, in document order, résumé first."""
    items: list[Item] = []
    employer_now = ""
    for line in _lines(resume):
        emp = _employer(line)
        if emp:
            employer_now = emp
            items.append(Item(kind="employer", term=emp, line=line, source="resume"))
            continue
        for t in _techs(line):
            items.append(Item(kind="tech", term=t, line=line, source="resume"))
        for m in _NUMBER.finditer(line):
            items.append(Item(kind="number", term=m.group(0).strip(), line=line, source="resume"))
        if employer_now and _PEOPLE.search(line):
            items.append(Item(kind="people", term=employer_now, line=line, source="resume"))
    lines = _lines(posting)
    marked = any(_MUST.search(x) for x in lines)
    for line in lines:
        if _NICE.search(line) or (marked and not _MUST.search(line)):
            continue
        for t in _techs(line):
            items.append(Item(kind="must", term=t, line=line, source="posting"))
    return items


def short_line(line: str, term: str, max_words: int = 16) -> str:
    """A verbatim piece of ``line`` around ``term``, at most ``max_words`` words, without
    trailing punctuation (for quoting)."""
    words = line.split()
    if len(words) > max_words:
        idx = next((i for i, w in enumerate(words) if term.casefold() in w.casefold()), 0)
        lo = max(0, min(idx - max_words // 3, len(words) - max_words))
        words = words[lo : lo + max_words]
    return " ".join(words).strip(" .,;:")


def make_plan(items: list[Item], n: int) -> list[Anchor]:
    """Up to ``n`` anchors on different items (distinct terms and lines), in the order
    experience, technical, behaviour, then again."""
    resume = [i for i in items if i.source == "resume"]
    musts = [i for i in items if i.kind == "must"]
    must_terms = {i.term.casefold() for i in musts}
    employers = {i.line: i.term for i in resume if i.kind == "employer"}
    used_terms: set[str] = set()
    used_lines: set[str] = set()

    def employer_of(line: str) -> str:
        emp = ""
        for r in resume:
            if r.kind == "employer":
                emp = r.term
            if r.line == line:
                return emp
        return next(iter(employers.values()), "")

    def free(i: Item) -> bool:
        return i.term.casefold() not in used_terms and i.line not in used_lines

    def from_resume(i: Item, focus: Focus, term: str = "") -> Anchor:
        return Anchor(
            index=0,
            focus=focus,
            term=term or i.term,
            line=i.line,
            source="resume",
            employer=employer_of(i.line),
        )

    def experience() -> Anchor | None:
        # a résumé line with a number and a technology, a must-have first
        lines_with_num = {i.line for i in resume if i.kind == "number"}
        techs = [i for i in resume if i.kind == "tech" and free(i)]
        ranked = sorted(
            techs,
            key=lambda i: (i.line not in lines_with_num, i.term.casefold() not in must_terms),
        )
        if ranked:
            i = ranked[0]
            return from_resume(i, "experience")
        nums = [i for i in resume if i.kind == "number" and free(i)]
        if nums:
            i = nums[0]
            return from_resume(i, "experience")
        return None

    def technical() -> Anchor | None:
        for m in musts:
            if m.term.casefold() in used_terms:
                continue
            shown = next(
                (
                    r
                    for r in resume
                    if r.kind == "tech"
                    and r.term.casefold() == m.term.casefold()
                    and r.line not in used_lines
                ),
                None,
            )
            if shown is not None:
                return from_resume(shown, "technical", m.term)
            return Anchor(index=0, focus="technical", term=m.term, line=m.line, source="posting")
        techs = [i for i in resume if i.kind == "tech" and free(i)]
        if techs:
            i = techs[0]
            return from_resume(i, "technical")
        return None

    def behaviour() -> Anchor | None:
        for i in resume:
            if i.kind == "people" and i.line not in used_lines:
                tech = next((t for t in _techs(i.line) if t.casefold() not in used_terms), "")
                term = tech or i.term
                if term.casefold() in used_terms:
                    continue
                return Anchor(
                    index=0,
                    focus="behaviour",
                    term=term,
                    line=i.line,
                    source="resume",
                    employer=i.term,
                )
        for line, emp in employers.items():
            if emp.casefold() not in used_terms and line not in used_lines:
                return Anchor(
                    index=0, focus="behaviour", term=emp, line=line, source="resume", employer=emp
                )
        return None

    plan: list[Anchor] = []
    order = (experience, technical, behaviour)
    misses = 0
    k = 0
    while len(plan) < n and misses < len(order):
        a = order[k % len(order)]()
        k += 1
        if a is None:
            misses += 1
            continue
        misses = 0
        used_terms.add(a.term.casefold())
        used_lines.add(a.line)
        plan.append(msgspec.structs.replace(a, index=len(plan) + 1))
    return plan


_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "experience": "Your résumé mentions “{short}”. What did you do yourself with "
        "{term} there, and how did you measure the result?",
        "technical": "This role needs {term}, and your résumé mentions “{short}”. Walk me "
        "through the hardest technical decision you made with {term} there.",
        "technical_posting": "The posting asks for {term}. How have you used {term}, and "
        "what trade-offs would you weigh when using it here?",
        "behaviour": "Your résumé says “{short}”. Tell me about a difficult moment with the "
        "people involved in that work. What did you do, and how did it end?",
        "behaviour_employer": "Tell me about a difficult moment with a colleague during your "
        "time at {term}. What did you do, and how did it end?",
    },
    "ko": {
        "experience": "이력서에 “{short}”라고 적으셨는데요. 그 일에서 {term} 관련해 본인이 직접 "
        "한 일과, 결과를 어떻게 측정했는지 말씀해 주시겠어요?",
        "technical": "이 직무에서는 {term} 역량이 중요한데, 이력서에 “{short}”라고 적으셨습니다. "
        "그 작업에서 내린 가장 어려운 기술적 결정을 설명해 주시겠어요?",
        "technical_posting": "공고에서 {term} 경험을 요구합니다. {term} 관련해서 어떤 경험이 "
        "있으시고, 이 자리에서 쓴다면 어떤 트레이드오프를 고려하시겠어요?",
        "behaviour": "이력서에 “{short}”라고 적으셨는데요. 그 일을 함께한 사람들과 어려웠던 "
        "순간이 있었다면, 어떻게 대처하셨고 결과는 어땠나요?",
        "behaviour_employer": "{term}에서 일하실 때 동료와 의견이 부딪혀 어려웠던 순간이 "
        "있었다면, 어떻게 대처하셨고 결과는 어땠나요?",
    },
}


def template_question(anchor: Anchor, language: str) -> str:
    """A question about ``anchor`` with no model: names the term and quotes the line."""
    lang = "ko" if language == "ko" else "en"
    key: str = anchor.focus
    if key == "technical" and anchor.source == "posting":
        key = "technical_posting"
    if key == "behaviour" and anchor.term == anchor.employer and _YEARS.search(anchor.line):
        key = "behaviour_employer"
    return _TEMPLATES[lang][key].format(
        term=anchor.term, short=short_line(anchor.line, anchor.term)
    )
