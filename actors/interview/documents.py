"""Reading a résumé and a job posting as people paste them: claims and requirements.

Users paste bullets, prose paragraphs, LinkedIn "About" sections, PDF text with broken lines
and hyphenated words, page numbers, Korean and English mixed. :func:`read_documents` takes
the text's sentences (:func:`actors.interview.segments.segments`) and reads each sentence of
the résumé as a :class:`Claim` (what the candidate did: the action, the technologies, the
numbers and the employer of the same sentence, kept together) and each line of the posting
as a :class:`Requirement`. Every claim's ``text`` is the document's own words (only line
breaks and hyphenation undone), so a question may quote it.

Pure text rules, no model: instant and deterministic. They are the plan's first reading and
its fallback; the model's reading and the embedding model's matching of requirements to
claims come in front of them when they are in (see :mod:`actors.session.plan`).
"""

from __future__ import annotations

__all__ = ["Claim", "ClaimKind", "Documents", "Requirement", "need_phrase", "read_documents"]

import re
from typing import Literal

import msgspec

from actors.interview.language import HANGUL
from actors.interview.lexicon import (
    ACTION_EN,
    ACTION_KO,
    CONTACT,
    EDUCATION,
    NUMBER,
    PEOPLE,
    RESULT,
    SECTION,
    TECH_TERMS,
    YEAR_RANGE,
    YEARS,
    acts,
    numbers_in,
    techs_in,
)
from actors.interview.segments import SENTENCE_END, is_header, segments

# A sentence that leans on the one before ("That change cut ...", "이를 통해 ...") means
# little quoted alone.
_ANAPHORA = re.compile(
    r"^(?:that|this|these|those|it|they|such|which)\b|^(?:이를|이로|그 결과|이것|그것)",
    re.IGNORECASE,
)

_SUMMARY = re.compile(
    r"^(?:총\s*)?경력\s*[:：]|^(?:total\s+)?(?:years of\s+)?experience\s*[:：]|^\d+\+?\s*years? of",
    re.IGNORECASE,
)

ClaimKind = Literal["achievement", "technology", "metric", "leadership", "scope"]

_SKILLS_HEAD = re.compile(
    r"^\s*(?:(?:technical |core )?skills|tools|stack|tech(?:nologies)?|languages|"
    r"기술|기술\s*스택|보유\s*기술|사용\s*기술|스킬|툴)\s*[:：]",
    re.IGNORECASE,
)
_MUST = re.compile(
    r"must|required|requirement|need|experience (?:with|in)|proficien|strong|you have|"
    r"you bring|looking for|qualifications|ability to|familiar|knowledge of|"
    r"필수|자격|요건|경험|능숙|필요|역량|이해",
    re.IGNORECASE,
)
_NICE = re.compile(
    r"nice to have|preferred|bonus|a plus|is a plus|desirable|우대|가산점", re.IGNORECASE
)
_BOILERPLATE = re.compile(
    r"benefits?|perks|salary|compensation|equal opportunity|eoe|how to apply|location|"
    r"remote-first|hybrid|visa|insurance|vacation|pto|복지|급여|연봉|근무지|근무 시간|"
    r"전형 절차|지원 방법|접수|마감|채용 절차|보험|휴가|about us|who we are|회사 소개|"
    r"closing date|apply by|dbs check|background check|right to work|학력 무관|병역|면제|"
    r"근무 형태|서류 전형|수습|정규직|계약직|full-time|part-time|permanent|"
    r"applications? close",
    re.IGNORECASE,
)
_DUTIES_HEAD = re.compile(
    r"what you'?ll do|responsibilities|the role|your role|in this role|주요\s*업무|담당\s*업무|"
    r"업무\s*내용",
    re.IGNORECASE,
)
_NICE_HEAD = re.compile(r"nice to have|preferred|bonus|desirable|우대", re.IGNORECASE)
_MUST_HEAD = re.compile(
    r"requirements|qualifications|what we'?re looking for|what you bring|you have|"
    r"must have|minimum|person specification|essential|skills and experience|about you|"
    r"what you'?ll need|you'?ll need|자격\s*요건|자격요건|필수|지원\s*자격|자격\s*사항|"
    r"필요\s*역량|이런 분을 찾|이런 분이면",
    re.IGNORECASE,
)
# "At Paylane (2021-2025), I built ...": the lead-in that names the employer
_EMP_LEAD = re.compile(
    r"^(?i:(?:before that|after that|then|previously|most recently|currently|later|"
    r"since \d{4}),?\s+)?(?i:at|@|with|in|for|while at)\s+[A-Z][^,()]{1,40}?"
    r"(?:\s*\([^)]*\))?\s*,?\s+(?=I\s|we\s|[a-z])"
)
_EMP_LEAD_KO = re.compile(
    r"^[^\s]{2,20}에서\s+(?:(?:19|20)\d{2}년?(?:\s*\d{1,2}월)?\s*(?:부터|~|-|–)\s*"
    r"(?:(?:19|20)\d{2}년?(?:\s*\d{1,2}월)?\s*(?:까지)?|현재까지)?\s*)?"
)


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """One sentence (or clause) of the résumé and what it says.

    ``text``: the document's words (whitespace and line-break hyphenation undone), quotable.
    ``employer``: the organisation it belongs to (same sentence, else the job heading above
    it; "" when unknown). ``action``: it names something the candidate did. ``people``: it
    involves leading or working with others. ``listing``: a list of skills, not an action.
    ``score``: how much there is to ask about (higher first). ``index``: document order."""

    text: str
    kind: ClaimKind
    employer: str = ""
    techs: list[str] = []
    numbers: list[str] = []
    action: bool = False
    people: bool = False
    result: bool = False
    listing: bool = False
    score: float = 0.0
    index: int = 0
    topic: str = ""
    """What a question about it should name, when a model chose it (a verbatim piece)."""


class Requirement(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a job posting that asks something of the candidate. ``need``: the line
    shortened to what is needed ("event streaming at scale"); ``must``: a must-have (not a
    nice-to-have, not a duty)."""

    text: str
    need: str
    techs: list[str] = []
    must: bool = True
    index: int = 0


class Documents(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`read_documents` found: claims in document order, requirements, and the
    employers named (in order)."""

    claims: list[Claim] = []
    requirements: list[Requirement] = []
    employers: list[str] = []


_EMP_AT = re.compile(
    r"(?:^|\b)(?i:at|@|with|joined)\s+((?:[A-Z][\w&.'-]*)(?:\s+(?:[A-Z][\w&.'-]*|&|of))*)"
)
_FIELD_WORDS = re.compile(
    r"^(?:data|backend|back-end|frontend|front-end|software|senior|junior|staff|principal|"
    r"lead|product|full-?stack|ml|ai|machine|web|mobile|platform|devops|qa|ux|ui|"
    r"데이터|백엔드|프론트엔드|소프트웨어|시니어|주니어|머신러닝|웹|모바일|플랫폼|서버|"
    r"인공지능|신입|경력)$",
    re.IGNORECASE,
)
_EMP_KO = re.compile(r"([가-힣A-Za-z0-9&.()]{2,20}?)\s*(?:에서|에 재직|재직 시|근무 시|입사)")
_ROLE_WORDS = re.compile(
    r"engineer|developer|manager|analyst|scientist|designer|lead|intern|director|head|"
    r"consultant|specialist|coordinator|officer|associate|teacher|nurse|architect|owner|"
    r"엔지니어|개발자|매니저|분석가|디자이너|인턴|팀장|연구원|기획자|담당자|교사|간호사|사원|대리|과장|"
    r"책임|선임|수석|PM|PO",
    re.IGNORECASE,
)
_EMP_STOP = frozenset("i we my our the a an this that in at on as from to for of with and".split())


# What stands where a heading's organisation would, and is none: months, durations,
# section words, generic Korean nouns of a résumé.
_NOT_EMPLOYER = re.compile(
    r"^(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b|^\d|^(?:issued|earlier|"
    r"later|since|until|present|current|co-author|author|speaker|mentor|volunteer|member|"
    r"education|skills|projects?|certifications?|awards?|summary|experience)\b|"
    r"^(?:과정|기간|환경|신규|병동|경력|학력|자격증|프로젝트|담당|역할|성명|생년월일|주요|기타)",
    re.IGNORECASE,
)


def _clean_employer(name: str) -> str:
    name = YEARS.sub("", YEAR_RANGE.sub("", name))
    name = re.sub(r"^\(주\)\s*|^주식회사\s*|\s*\(주\)$", "", name.strip())
    name = re.sub(r"(?<=[가-힣])(?:에서|에|의|을|를|으로)$", "", name)
    name = re.sub(r"^\s*(?:at|@|with|joined|in)\s+", "", name, flags=re.IGNORECASE)
    name = re.sub(r"[\s(),|:–—-]+$", "", name).strip(" ,.-–—|:()")
    words = name.split()
    while words and words[-1].lower() in _EMP_STOP:
        words.pop()
    if (
        not words
        or len(words) > 5
        or NUMBER.fullmatch(name)
        or not re.search(r"[A-Za-z가-힣]", name)
    ):
        return ""
    if words[0].lower() in _EMP_STOP or _ROLE_WORDS.fullmatch(words[0]):
        return ""
    if _NOT_EMPLOYER.match(name) or TECH_TERMS.fullmatch(words[0]) or len(name) < 2:
        return ""
    # "한빛커머스 데이터 엔지니어", "Acme Senior Data Engineer": the name ends where the
    # job title begins
    for i, w in enumerate(words[1:], start=1):
        if _ROLE_WORDS.fullmatch(w) or _FIELD_WORDS.match(w):
            words = words[:i]
            break
    return " ".join(words)


# A job heading without dates: "(주)아이캔에듀 — PM (현재 재직)", "Acme Ltd — Analyst (present)"
_TENURE = re.compile(
    r"현재|재직|이전 직장|퇴사|\bpresent\b|\bcurrent\b|\bformer\b|\(주\)|주식회사|"
    r"\b(?:Inc|Ltd|LLC|Corp|GmbH|Co)\b\.?",
    re.IGNORECASE,
)


def _heading_employer(line: str) -> str:
    """The organisation of a job heading ("Acme Corp — Data Engineer (2019–2023)",
    "2019.03 ~ 2023.02 한빛커머스 데이터 엔지니어"), "" when ``line`` is none."""
    if not YEAR_RANGE.search(line) and not YEARS.search(line) and not _TENURE.search(line):
        return ""
    if EDUCATION.search(line) or SECTION.match(line.split(":")[0].strip()):
        return ""
    words = line.split()
    if not YEARS.search(line) and (len(words) > 10 or not re.search(r"\s[—–|·-]\s", line)):
        return ""  # no dates: only "Company — Role (current)" shapes are headings
    # "(주)코어소프트 | 개발팀 사원~대리 | 2010.07 ~ 2012.12": a heading though 개발 acts
    table = (
        bool(YEAR_RANGE.search(line))
        and bool(re.search(r"\||\s[—–-]\s", line))
        and not SENTENCE_END.search(line)
    )  # also "Oak Vale Academy — Maths Teacher / KS4 Data Lead, 2016 – present"
    if len(words) > 14 or (
        not table and acts(line) and (len(words) > 6 or SENTENCE_END.search(line))
    ):
        return ""
    m = _EMP_AT.search(line)
    if m:
        return _clean_employer(m.group(1))
    body = YEAR_RANGE.sub(" ", line)
    body = YEARS.sub(" ", body)
    body = re.sub(r"\(주\)|주식회사", "", body)
    body = re.sub(r"\((?:현재|재직|이전|present|current|former)[^)]*\)", " ", body, flags=re.I)
    parts = [p.strip() for p in re.split(r"\s[—–-]\s|\||,|\(|\)|:|·|/|\s{2,}", body) if p.strip()]
    for p in parts:
        if _ROLE_WORDS.search(p) and len(parts) > 1:
            continue
        name = _clean_employer(p)
        if name:
            return name
    return ""


_EMP_MARKED = re.compile(
    r"(?:\(주\)|주식회사\s?)([가-힣A-Za-z0-9&]{2,20})|([가-힣A-Za-z0-9&]{2,20})\(주\)"
)
_KO_DATES = re.compile(
    r"^(?:그\s?전에는\s*|이전에는\s*)?(?:(?:19|20)\d{2}년\s*(?:\d{1,2}월\s*)?(?:부터|~)?\s*"
    r"(?:(?:19|20)\d{2}년\s*(?:\d{1,2}월\s*)?까지|현재까지)?\s*)"
)


def _sentence_employer(sentence: str) -> str:
    """An organisation named inside a prose sentence ("At Hanwha Systems (2019-2023) I
    built ...", "한빛커머스에서 ..."), "" when none."""
    m = _EMP_AT.search(sentence)
    if m and (YEARS.search(sentence) or m.start() < 3 or YEAR_RANGE.search(sentence)):
        return _clean_employer(m.group(1))
    marked = _EMP_MARKED.search(sentence)  # "(주)스마트유통", "한결로지스(주)"
    if marked:
        return _clean_employer(marked.group(1) or marked.group(2))
    k = _EMP_KO.search(_KO_DATES.sub("", sentence))
    if k and k.start() < 4:
        return _clean_employer(k.group(1))
    return ""


def _is_listing(sentence: str, techs: list[str]) -> bool:
    """A list of skills, not something done: a "Skills:" line, five or more technologies,
    or three with list punctuation and no action."""
    if _SKILLS_HEAD.match(sentence) or len(techs) >= 5:
        return True
    commas = sentence.count(",") + sentence.count("/") + sentence.count("·")
    return (
        len(techs) >= 3
        and commas >= 2
        and not ACTION_EN.search(sentence)
        and not ACTION_KO.search(sentence)
    )


# "Hello, I'm ...", "안녕하세요, ...": an introduction, no claim
_GREETING = re.compile(r"^(?:hi|hello|hey|안녕하세요|반갑습니다)\b", re.IGNORECASE)


def _title(sentence: str) -> bool:
    """A job title or name line ("서비스 기획자 / PM", "[스튜디오나인] 피플팀 HRBP"), no
    claim and no requirement."""
    words = sentence.split()
    return (
        len(words) <= (6 if re.search(r"[\[\]|—]", sentence) else 4)
        and not numbers_in(sentence)
        and not SENTENCE_END.search(sentence)
        and bool(_ROLE_WORDS.search(sentence))
    )


def _claim(sentence: str, employer: str, index: int) -> Claim | None:
    if CONTACT.search(sentence) or len(sentence) < 12 or _GREETING.match(sentence):
        return None
    techs = techs_in(sentence)
    listing = _is_listing(sentence, techs)
    numbers = [] if listing else numbers_in(sentence)
    action = bool(ACTION_EN.search(sentence) or ACTION_KO.search(sentence))
    people = bool(PEOPLE.search(sentence)) and action
    result = bool(RESULT.search(sentence)) or bool(numbers)
    # a degree is no claim, unless the line says what was built there ("Built ... at the
    # university lab, 3 papers"); Korean 교육 is also "training others", so it does not count
    education = bool(EDUCATION.search(sentence)) and not (
        ACTION_EN.search(sentence) and (numbers or techs)
    )
    words = len(sentence.split()) if not HANGUL.search(sentence) else len(sentence) // 3
    if education or _title(sentence):
        return None
    if not (action or techs or numbers):
        return None
    kind: ClaimKind
    if listing or (techs and not action):
        kind = "technology"
    elif people:
        kind = "leadership"
    elif numbers and action:
        kind = "metric"
    elif action and (techs or result):
        kind = "achievement"
    else:
        kind = "scope"
    score = 2.0 * action + min(2.0, 1.25 * len(numbers)) + min(1.5, 0.75 * len(techs))
    score += 0.75 * people + 0.75 * result + (0.5 if 6 <= words <= 40 else 0.0)
    score -= 2.5 * listing + (2.0 if words < 4 else 0.0)
    score -= 2.5 if _ANAPHORA.match(sentence) else 0.0  # "That change cut ...": says what?
    score -= 3.0 if _SUMMARY.match(sentence) else 0.0  # "총 경력: 14년": years are no claim
    return Claim(
        text=sentence,
        kind=kind,
        employer=employer,
        techs=techs,
        numbers=numbers,
        action=action,
        people=people,
        result=result,
        listing=listing,
        score=round(score, 2),
        index=index,
    )


_NEED_LEAD = re.compile(
    r"^(?:(?:you(?:'re| are) a (?:good |great )?fit if you have|you have|you bring|"
    r"you'll have|ideally|we(?:'re| are) looking for|must have|must|required|"
    r"requirements?|qualifications?|strong|solid|proven|deep|hands-on|demonstrated|good|"
    r"excellent|working|practical|extensive|some|prior|professional|production)\s*[:：]?\s*)+"
    r"|^(?:\d+\+?\s*(?:years?|yrs?)\s*(?:of\s+)?(?:professional\s+)?)"
    r"|^(?:experience|expertise|proficiency|familiarity|knowledge|understanding)\s+(?:with|in|of)\s+"
    r"|^(?:ability|able)\s+to\s+",
    re.IGNORECASE,
)


_KO_YEARS = re.compile(r"(?:실무\s*)?(?:경력|경험)\s*\d+\s*년\s*(?:이상|차?)?\s*(?:의)?")


def need_phrase(line: str, max_words: int = 8) -> str:
    """What a posting line asks for, without its lead-in ("Strong experience with event
    streaming at scale" -> "event streaming at scale"); Korean lines are kept, shortened."""
    text = line.strip().rstrip(".;:")
    text = _KO_YEARS.sub(" ", text).strip()  # "HR 실무 경력 5년 이상" asks for HR
    prev = None
    while prev != text:
        prev = text
        text = _NEED_LEAD.sub("", text).strip()
    words = text.split()
    if len(words) > max_words:
        cut = re.split(r",\s|;\s|\s(?:and|or|such as|including|e\.g\.)\s|\(", text)[0].split()
        words = cut[:max_words] if cut else words[:max_words]
    if words and words[0].lower() in _VERB_BASE:  # "Write SQL ..." -> "writing SQL ..."
        words[0] = _gerund(words[0].lower())
    elif (  # "Commitment to accessible ..." inside a sentence: "commitment to ..."
        len(words) > 1
        and words[0][:1].isupper()
        and words[0][1:].islower()
        and words[1][:1].islower()
        and not TECH_TERMS.fullmatch(words[0])
    ):
        words[0] = words[0].lower()
    # "... 운영 경험 필수" is asked for as "{need} 경험": keep "... 운영"
    while len(words) > 1 and words[-1].rstrip(".") in _KO_NEED_END:
        words.pop()
    if len(words) > 1 and HANGUL.search(words[-1]):
        tail = _KO_NEED_TAIL.sub("", words[-1])
        if tail:
            words[-1] = tail
        else:
            words.pop()
    if words and HANGUL.search(words[-1]):  # "... 파이프라인을" -> "... 파이프라인"
        words[-1] = _KO_PARTICLE_TAIL.sub("", words[-1]) or words[-1]
    return " ".join(words).strip(" ,.;:(")


_KO_PARTICLE_TAIL = re.compile(r"(?<=[가-힣])(?:을|를|이|가|은|는|의|에|에서|로|으로|과|와|도)$")


_KO_NEED_END = frozenset("필수 우대 필요 보유자 분 있으신 갖추신 이상".split())


_KO_NEED_TAIL = re.compile(r"(?:경험|역량|능력|이해도?|지식)(?:이|을|를|이나|과|와)?$")
_VERB_BASE = frozenset(
    "write build design run own lead manage create analyse analyze communicate use develop "
    "maintain support collaborate partner drive deliver work ship define plan test operate "
    "improve translate turn make help mentor present".split()
)


def _gerund(word: str) -> str:
    """ "write" -> "writing", "run" -> "running" (posting lines in the imperative)."""
    if word not in _VERB_BASE:
        return word
    if word in ("run", "plan", "ship"):
        return word + word[-1] + "ing"
    if word.endswith("e") and not word.endswith("ee"):
        return word[:-1] + "ing"
    return word + "ing"


def read_documents(resume: str, posting: str) -> Documents:
    """Claims of the résumé and requirements of the posting (see the module docstring)."""
    claims: list[Claim] = []
    employers: list[str] = []
    employer_now = ""
    for index, sentence in enumerate(segments(resume)):
        if is_header(sentence):
            continue
        heading = _heading_employer(sentence)
        if heading:
            employer_now = heading
            if heading not in employers:
                employers.append(heading)
            continue
        inline = _sentence_employer(sentence)
        if inline:
            employer_now = inline
            if inline not in employers:
                employers.append(inline)
            lead = _EMP_LEAD.match(sentence) or _EMP_LEAD_KO.match(sentence)
            if lead and len(sentence) - lead.end() >= 12:
                sentence = sentence[lead.end() :]
                sentence = sentence[:1].upper() + sentence[1:]
        c = _claim(sentence, inline or employer_now, index)
        if c is not None:
            claims.append(c)
    return Documents(claims=claims, requirements=_requirements(posting)[:40], employers=employers)


def _section_of(line: str) -> str:
    """The section a short heading line opens ("" when it is no heading)."""
    if len(line.split()) > 7 or (SENTENCE_END.search(line) and line.endswith(".")):
        return ""
    if _NICE_HEAD.search(line):
        return "nice"
    if _MUST_HEAD.search(line):
        return "must"
    if _DUTIES_HEAD.search(line):
        return "duty"
    if _BOILERPLATE.search(line) or is_header(line):
        return "other"
    return ""


# "We're looking for a Group Product Manager to ...": the pitch, not a requirement
_PITCH = re.compile(r"^(?:an?|the)\s+(?:\w+\s+){0,3}(?:" + _ROLE_WORDS.pattern + ")", re.IGNORECASE)


def _requirements(posting: str) -> list[Requirement]:
    """A posting's lines that ask something of the candidate. With a requirements heading
    ("What we're looking for", "자격 요건"), the lines under it are the must-haves, the
    lines under "nice to have"/우대 and duties are kept as not must; what comes before any
    heading (the company, the title, the pitch) is no requirement. Without one, a line is
    a must-have when it says so ("required", "experience with", 경험, 필수) or names a
    technology."""
    lines = segments(posting)
    sections = [_section_of(x) for x in lines]
    headed = "must" in sections
    section = "intro" if headed else "must"
    out: list[Requirement] = []
    for index, (line, heading) in enumerate(zip(lines, sections, strict=True)):
        if heading:
            section = heading
            continue
        if section in ("intro", "other") or _BOILERPLATE.search(line) or CONTACT.search(line):
            continue
        if len(line) < 6 or _title(line) or _GREETING.match(line):
            continue
        techs = techs_in(line)
        nice = section == "nice" or bool(_NICE.search(line))
        if headed:
            must = section == "must" and not nice
        else:
            must = not nice and (bool(_MUST.search(line)) or bool(techs))
        need = need_phrase(line)
        if need and not _PITCH.match(need):
            out.append(Requirement(text=line, need=need, techs=techs, must=must, index=index))
    return out
