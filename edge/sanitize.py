"""Client text is cleaned here, once, before it goes anywhere (see :mod:`persistence.text`)."""

from __future__ import annotations

__all__ = ["clean_event"]

import msgspec

from bus import events
from persistence.text import clean_text


def clean_event(event: events.ClientEvent) -> events.ClientEvent:
    """``event`` with :func:`~persistence.text.clean_text` applied to each of its free
    text fields (``start``'s résumé and job posting, ``answer_text``'s text)."""
    if isinstance(event, events.AnswerText):
        return msgspec.structs.replace(event, text=clean_text(event.text))
    if isinstance(event, events.Start):
        return msgspec.structs.replace(
            event,
            resume_text=clean_text(event.resume_text),
            job_posting=clean_text(event.job_posting),
        )
    return event
