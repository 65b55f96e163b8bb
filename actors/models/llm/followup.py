"""The follow-up decision: whether to ask one, and what the model is told is missing.

Engine-independent. The rules (:func:`actors.interview.answers.followup_gaps`) decide
for free in the default ``"heuristic"`` mode: a complete answer costs no model call at all,
and an incomplete one tells the model which details to ask for. In ``"model"`` mode the
model makes the NONE/ASK decision itself unless the rules find everything missing; the
decision is the first tokens of its reply (see :func:`actors.models.llm.sentences.after_decision`),
so it costs a token budget of a few tokens before the question starts.
"""

from __future__ import annotations

__all__ = ["FollowupDecider", "FollowupPlan", "plan_followup"]

from dataclasses import dataclass
from typing import Literal

from actors.interview.answers import followup_gaps
from actors.interview.language import lang_of
from bus.jobs import LlmJob

FollowupDecider = Literal["heuristic", "model"]


@dataclass(frozen=True, slots=True)
class FollowupPlan:
    """``skip``: no follow-up and no model call. Otherwise render the prompt with ``gaps``;
    ``model_decides`` means the reply starts with the NONE/ASK decision."""

    skip: bool
    gaps: list[str] | None
    model_decides: bool


def plan_followup(job: LlmJob, decider: FollowupDecider) -> FollowupPlan:
    """Plan a ``followup`` job (a quoted follow-up with an ``anchor`` is always asked)."""
    if job.anchor:
        return FollowupPlan(skip=False, gaps=None, model_decides=False)
    answer = job.answer or (job.history[-1].answer if job.history else "")
    gaps = followup_gaps(answer, lang_of(job.language))
    if decider == "model" and len(gaps) < 3:
        return FollowupPlan(skip=False, gaps=None, model_decides=True)
    return FollowupPlan(skip=not gaps, gaps=gaps, model_decides=False)
