"""The vocabulary of résumés and postings: patterns for technologies, numbers, years,
actions, people, results, contact details and education, in English and Korean.

Data and three small readers (:func:`techs_in`, :func:`numbers_in`, :func:`acts`); used by
:mod:`actors.interview.segments`, :mod:`actors.interview.documents` and
:mod:`actors.interview.quoting`.
"""

from __future__ import annotations

__all__ = [
    "ACTION_EN",
    "ACTION_KO",
    "CONTACT",
    "EDUCATION",
    "NUMBER",
    "PEOPLE",
    "RESULT",
    "SECTION",
    "TECH_TERMS",
    "YEARS",
    "YEAR_RANGE",
    "acts",
    "numbers_in",
    "techs_in",
]

import re

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
    "Android Flutter RabbitMQ SQS Pub/Sub Iceberg Delta Parquet Feast Sagemaker Vertex "
    "Salesforce HubSpot SAP Confluence Notion Segment GA4 Braze Zendesk Playwright Selenium "
    "Unity Unreal"
).split()
# Case-sensitive ("Go" the language, not "go" the verb; "REST", not "the rest"), plus the
# lower-case spellings people really write.
_LOWER_OK = (
    "postgres kafka airflow kubernetes docker python redis terraform snowflake bigquery "
    "pytorch mlflow typescript javascript graphql mysql mongodb sql spark excel tableau"
).split()
TECH_TERMS = re.compile(
    r"(?<![A-Za-z0-9])("
    + "|".join(re.escape(t) for t in sorted([*_TECH_WORDS, *_LOWER_OK], key=len, reverse=True))
    + r")(?![A-Za-z0-9+#])"
)
# CamelCase names, and ALLCAPS of three letters or more (two-letter capitals are mostly
# places, units and titles: NY, US, PM, HR)
_NAMEISH = re.compile(r"(?<![A-Za-z])([A-Z][a-z]+[A-Z][A-Za-z]+|[A-Z]{3,6}[0-9]?)(?![A-Za-z])")
_NOT_TECH = set(
    (
        "I A AN THE CV PM HR CEO CTO COO CFO VP BS MS BA MA MBA PHD KPI KPIS OKR OKRS USA UK KR "
        "EN TODO TB GB MB KB QPS RPS MAU DAU NPS CSAT ARR MRR GPA TOEIC TOEFL IELTS OPIC B2B "
        "B2C SaaS ROI YOY QA UX UI IT ICU ER RN LinkedIn GitHub CS VOC PO PL SI MD CX GA GTM "
        "SOP SLA PR IR SW HW AE SDR BDR CRO CMO CX P&L HQ EU US NZ BSC MSC"
    )
    .upper()
    .split()
)
NUMBER = re.compile(
    r"(?<![\w.])(?:\$|₩|€|£)?\d[\d,.]*\s*(?:%|퍼센트|percent|ms\b|s\b|x\b|배|TB|GB|MB|k\b|K\b|M\b|"
    r"B\b|만|억|천|명|건|개|곳|팀|시간|분|초|일|주|개월|년|원|달러|users?\b|customers?\b|"
    r"requests?\b|rps\b|QPS\b|qps\b|hours?\b|minutes?\b|days?\b|weeks?\b|months?\b|"
    r"people\b|engineers?\b|teams?\b|clients?\b|stores?\b|patients?\b|students?\b|"
    r"members?\b|countries\b|services?\b|million\b|billion\b|thousand\b|points?\b|"
    r"p\.?p\.?\b|percentage points\b|[a-z]{3,}s\b)",
    re.IGNORECASE,
)
YEARS = re.compile(r"(?<!\d)(19|20)\d{2}(?!\d)")
YEAR_RANGE = re.compile(
    r"(?:(?:19|20)\d{2}(?:[./]\d{1,2})?|\d{1,2}/(?:19|20)\d{2})\s*(?:[-–—~]|to|부터)\s*"
    r"(?:(?:19|20)\d{2}(?:[./]\d{1,2})?|\d{1,2}/(?:19|20)\d{2}|present|now|current|현재|재직\s*중)",
    re.IGNORECASE,
)

# What the candidate did. English past tense, present (LinkedIn "I build ..."), -ing headers.
ACTION_EN = re.compile(
    r"\b(?:built|build(?:s|ing)?|led|lead(?:s|ing)?|designed|design(?:s|ing)|launched|"
    r"launch(?:es|ing)?|reduced|reduc(?:es|ing)|increased|increas(?:es|ing)|migrated|"
    r"migrat(?:es|ing)|automated|automat(?:es|ing)|implemented|implement(?:s|ing)|created|"
    r"creat(?:es|ing)|developed|develop(?:s|ing)|improved|improv(?:es|ing)|cut|cutting|grew|"
    r"grow(?:s|ing)|introduced|introduc(?:es|ing)|drove|driv(?:es|ing)|owned|own(?:s|ing)|"
    r"shipped|ship(?:s|ping)|managed|manag(?:es|ing)|mentored|mentor(?:s|ing)|scaled|"
    r"scal(?:es|ing)|optimi[sz]ed|optimi[sz](?:es|ing)|negotiated|negotiat(?:es|ing)|trained|"
    r"train(?:s|ing)|coordinated|coordinat(?:es|ing)|redesigned|rebuilt|rewrote|wrote|writ(?:es|ing)|"
    r"analy[sz]ed|analy[sz](?:es|ing)|ran|run(?:s|ning)|organi[sz]ed|established|delivered|"
    r"deliver(?:s|ing)|streamlined|raised|saved|sav(?:es|ing)|won|handled|supported|"
    r"support(?:s|ing)|taught|teach(?:es|ing)|onboarded|hired|hir(?:es|ing)|partnered|"
    r"spearheaded|rolled out|set up|sets up|setting up|cleaned|modelled|modeled|forecast(?:ed)?|"
    r"deployed|deploy(?:s|ing)|maintained|maintain(?:s|ing)|refactored|tested|test(?:s|ing)|"
    r"investigated|resolved|resolv(?:es|ing)|closed|sold|sell(?:s|ing)|planned|plan(?:s|ning)|"
    r"prioriti[sz]ed|prioriti[sz](?:es|ing)|defined|defin(?:es|ing)|researched|interviewed|"
    r"conducted|conduct(?:s|ing)|produced|published|presented|pitched|secured|expanded|"
    r"consolidated|replaced|moved|converted|halved|doubled|tripled|lowered|boosted|"
    r"accelerated|shortened|eliminated|prevented|caught|fixed|debugged|monitored|"
    r"instrumented|integrated|integrat(?:es|ing)|architected|authored|drafted|"
    r"facilitated|coached|coach(?:es|ing)|recruited|guided|oversaw|oversee(?:s|ing)|"
    r"headed|directed|started|founded|co-founded|piloted|prototyped|evaluated|audited|"
    r"standardi[sz]ed|documented|triaged|cared|administered|assessed|treated|"
    r"proposed|suggested|convinced|persuaded|decided|chose|pushed for|argued|"
    r"responsible for|in charge of)\b",
    re.IGNORECASE,
)
ACTION_KO = re.compile(
    r"구축|개발|설계|도입|개선|단축|절감|향상|증가|감소|이끌|리드|주도|담당|운영|출시|런칭|"
    r"기획|전환|이전|마이그레이션|자동화|최적화|달성|확보|수행|진행|관리|작성|분석|교육|멘토링|"
    r"협업|만들|줄였|줄임|늘렸|늘림|높였|높임|낮췄|낮춤|구현|배포|리팩터링|리팩토링|통합|"
    r"해결|유치|판매|제안|발표|수립|정의|설득|조율|채용|온보딩|지원|맡|총괄|참여|제작|"
    r"올렸|올림|끌어올|내렸|줄이|늘리|했습니다|했음|하였|함\b|함$",
)
PEOPLE = re.compile(
    r"\b(?:led|lead|leading|mentor\w*|team|managed|manag(?:es|ing)|coordinat\w*|"
    r"stakeholder\w*|cross-functional|hired|onboard\w*|partnered|collaborat\w*|coach\w*|"
    r"negotiat\w*|convinc\w*|persuad\w*|aligned|facilitat\w*|taught|trained|recruited|"
    r"supervis\w*|oversaw|headed|directed|customers?|clients?|patients?|students?|vendors?)\b|"
    r"이끌|리드|멘토|팀|협업|주도|조율|설득|채용|온보딩|고객|파트너|교육|협의|총괄",
    re.IGNORECASE,
)
RESULT = re.compile(
    r"\b(?:result(?:ed|s|ing)?|reduc\w*|increas\w*|improv\w*|sav(?:ed|ing|es)|cut|drop\w*|"
    r"grew|growth|faster|fewer|lower\w*|rais\w*|boost\w*|halved|doubled|tripled|"
    r"outcome|so that|leading to|which|won)\b|결과|줄였|줄임|늘렸|늘림|개선|향상|감소|증가|단축|"
    r"절감|빨라|달성|높였|낮췄|올렸",
    re.IGNORECASE,
)
CONTACT = re.compile(
    r"@\w|https?://|www\.|linkedin\.com|github\.com|\+?\d[\d\s-]{8,}\d|전화|이메일|연락처|"
    r"\b(?:phone|email|e-mail|address|tel)\s*[:：]",
    re.IGNORECASE,
)
EDUCATION = re.compile(
    r"\b(?:university|college|bachelor|master|b\.?s\.?c?|m\.?s\.?c?|ph\.?d|gpa|degree|"
    r"diploma|graduated|high school|bootcamp graduate|certificate|certified|certification)\b|"
    r"대학교|대학원|학사|석사|박사|졸업|학점|고등학교|자격증|수료|정보처리기사|산업기사|기사 자격",
    re.IGNORECASE,
)
SECTION = re.compile(
    r"^(?:about(?: me)?|summary|profile|professional summary|experience|work experience|"
    r"employment(?: history)?|career|education|skills?|technical skills|projects?|"
    r"certifications?|awards?|languages?|interests|activities|volunteering|references|"
    r"publications|core competencies|highlights|contact|"
    r"경력|경력 사항|경력사항|학력|기술|기술 스택|보유 기술|자격증|프로젝트|요약|소개|자기소개|"
    r"수상|활동|대외활동|어학|교육|기타|업무 경험|주요 경력|핵심 역량)\s*[:：]?$",
    re.IGNORECASE,
)


def techs_in(line: str) -> list[str]:
    """Technologies named in ``line`` (known names, CamelCase or ALLCAPS words), each once."""
    found = [m.group(1) for m in TECH_TERMS.finditer(line)]
    found += [
        m.group(1)
        for m in _NAMEISH.finditer(line)
        if m.group(1).upper() not in _NOT_TECH and len(set(m.group(1))) > 1  # not "OO", "XX"
    ]
    seen: dict[str, str] = {}
    for t in found:
        seen.setdefault(t.casefold(), t)
    return list(seen.values())


def numbers_in(line: str) -> list[str]:
    """Quantities in ``line`` ("40%", "3억 건", "12 clinics"), each once; years are none."""
    body = YEAR_RANGE.sub(" ", line)
    found = [
        m.group(0).strip()
        for m in NUMBER.finditer(body)
        if not re.fullmatch(r"(?:19|20)\d{2}\s*(?:년|s)?", m.group(0).strip())
    ]
    return list(dict.fromkeys(found))


def acts(text: str) -> bool:
    """True when ``text`` names something done (an action verb, English or Korean)."""
    return bool(ACTION_EN.search(text) or ACTION_KO.search(text))
