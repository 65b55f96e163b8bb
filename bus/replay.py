"""The ``answer_audio`` object store: each spoken answer's audio (a WAV file), named
``<session id>.<turn>``, for replay from the report.

Who does what (:mod:`bus.auth`): the session role writes answers (:func:`store_answer`)
and deletes them when the candidate deletes the interview (:func:`delete_answers`, on
the session node's delete path, ``interview.delete``); the edge only reads
(:func:`load_answer`). Retention and size are the store's limits
(:class:`bus.provision.ReplayLimits`): objects expire after the TTL, and a full store
refuses new answers (the replay is then missing, the interview goes on).
"""

from __future__ import annotations

__all__ = ["delete_answers", "load_answer", "object_name", "store_answer"]

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from nats.js.object_store import ObjectStore

log = logging.getLogger(__name__)

_STORE_TIMEOUT_S = 10.0


def object_name(session_id: str, turn: int) -> str:
    return f"{session_id}.{turn}"


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
