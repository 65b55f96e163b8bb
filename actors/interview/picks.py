"""The model's picks among a résumé's sentences (a ``claims`` job's reply), checked.

Shared by the LLM engines (which validate their model's reply) and the session core (which
takes only what it can verify against the sentences it sent): see
:mod:`actors.models.llm.claims` for the job itself.
"""

from __future__ import annotations

__all__ = ["CLAIM_KINDS", "MAX_PICKS", "Pick", "dump_picks", "parse_picks"]

import json
import re
from typing import Any

import msgspec

CLAIM_KINDS = ("achievement", "technology", "metric", "leadership", "scope")
MAX_PICKS = 5


class Pick(msgspec.Struct, frozen=True):
    """One chosen sentence: its number ``n`` in the job's ``context``, its ``kind`` and a
    ``topic`` that is a verbatim piece of it ("" when the model's was not)."""

    n: int
    kind: str
    topic: str = ""


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def parse_picks(text: str, sentences: list[str]) -> list[Pick]:
    """The valid picks of a reply, in order, each sentence once: numbers within
    ``sentences``, known kinds, topics kept only when they are a verbatim piece of their
    sentence (case and spaces aside). Anything else in the reply is ignored; a reply that
    is not JSON gives no picks."""
    start, end = text.find("{"), text.rfind("}")
    try:
        data: Any = json.loads(text[start : end + 1], strict=False) if start >= 0 else {}
    except ValueError:
        return []
    raw = data.get("claims", []) if isinstance(data, dict) else []
    out: list[Pick] = []
    seen: set[int] = set()
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        n, kind = item.get("n"), item.get("kind")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < len(sentences):
            continue
        if n in seen or kind not in CLAIM_KINDS:
            continue
        topic = item.get("topic")
        topic = " ".join(topic.split()).strip(" .,;:") if isinstance(topic, str) else ""
        if not topic or len(topic) < 2 or _norm(topic) not in _norm(sentences[n]):
            topic = ""
        elif not re.search(r"\w", topic):
            topic = ""
        seen.add(n)
        out.append(Pick(n=n, kind=kind, topic=topic))
        if len(out) == MAX_PICKS:
            break
    return out


def dump_picks(picks: list[Pick]) -> str:
    """The JSON text of ``picks`` (what an engine returns as the job's text)."""
    return json.dumps({"claims": [msgspec.to_builtins(p) for p in picks]}, ensure_ascii=False)
