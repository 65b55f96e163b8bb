"""Replay: each spoken answer's audio, kept in the ``answer_audio`` object store so the
candidate can hear it from the report (the shell side; the core never sees this).

:class:`AnswerTape` collects the speech segments the core sends to STT (the answer as
the endpointer cut it: pre-roll included, a pause inside the answer kept with the segment
it ends) and, when the core persists a spoken turn, hands back the answer as one WAV
file, once per turn. The functions below store, load and delete those files by
``<session id>.<turn>``.

Retention and size are the store's limits (:class:`bus.provision.ReplayLimits`): objects
expire after the TTL, and a full store refuses new answers (the replay is then missing,
the interview goes on). An answer in progress when the session moves to another node
is not taped.
"""

from __future__ import annotations

__all__ = [
    "MAX_ANSWER_S",
    "AnswerTape",
    "delete_answers",
    "load_answer",
    "object_name",
    "store_answer",
    "wav_bytes",
]

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from nats.js.object_store import ObjectStore

from actors.models.audio import wav_bytes
from actors.session.state import TurnRecord
from bus.jobs import SttJob

log = logging.getLogger(__name__)

#: Longer answers are taped up to this length.
MAX_ANSWER_S = 300
_TAPED_TURNS = 64
_STORE_TIMEOUT_S = 10.0


def object_name(session_id: str, turn: int) -> str:
    return f"{session_id}.{turn}"


class AnswerTape:
    """The speech segments of the answer in progress (bounded by :data:`MAX_ANSWER_S`)."""

    def __init__(self) -> None:
        self._segments: dict[int, bytes] = {}
        self._rate = 16000
        self._taped: list[int] = []

    def on_stt(self, job: SttJob) -> None:
        """A segment goes to STT. Segment numbers restart at 0 with a new turn; a
        re-sent segment replaces itself."""
        if job.segment == 0 and self._segments.get(0, job.pcm) != job.pcm:
            self._segments.clear()  # a new answer; the last one was not a spoken turn
        self._rate = job.sample_rate
        limit = MAX_ANSWER_S * job.sample_rate * 2
        if sum(map(len, self._segments.values())) + len(job.pcm) <= limit:
            self._segments[job.segment] = job.pcm

    def take(self, record: TurnRecord) -> bytes | None:
        """The WAV of a spoken turn the first time it is persisted; None otherwise."""
        if record.source != "speech" or record.turn in self._taped or not self._segments:
            return None
        self._taped = [*self._taped[-_TAPED_TURNS + 1 :], record.turn]
        pcm = b"".join(self._segments[k] for k in sorted(self._segments))
        self._segments.clear()
        return wav_bytes(pcm, self._rate)


async def store_answer(store: ObjectStore, session_id: str, turn: int, wav: bytes) -> None:
    """Put one answer (bounded wait); when it cannot be stored, log it and go on."""
    try:
        await asyncio.wait_for(store.put(object_name(session_id, turn), wav), _STORE_TIMEOUT_S)
    except Exception as exc:  # a full store, a slow server: the replay is missing
        log.warning("session %s: answer %d not kept for replay: %r", session_id, turn, exc)


async def load_answer(store: ObjectStore, session_id: str, turn: int) -> bytes | None:
    """One answer's WAV, None when there is none (never taped, expired or deleted)."""
    try:
        result = await asyncio.wait_for(store.get(object_name(session_id, turn)), _STORE_TIMEOUT_S)
    except TimeoutError:
        raise
    except Exception:
        return None
    data = result.data
    return bytes(data) if data else None


async def delete_answers(store: ObjectStore, session_id: str, turns: Iterable[int]) -> int:
    """Delete the answers of ``turns``; how many were there."""
    deleted = 0
    for turn in turns:
        with contextlib.suppress(Exception):  # not there: nothing to delete
            await asyncio.wait_for(store.delete(object_name(session_id, turn)), _STORE_TIMEOUT_S)
            deleted += 1
    return deleted
