"""The session role's delete path: answers ``interview.delete`` (:mod:`bus.activation`).

Deleting an interview takes rights the edge does not hold: the answer audio is deleted
here, with the session role's credentials, then the session's rows (a tombstone stays)
and its tokens are revoked in one transaction (:func:`persistence.retention.delete_session`).
"""

from __future__ import annotations

__all__ = ["serve_deletes"]

import contextlib
import logging
from typing import Any

import asyncpg
import msgspec
from nats.aio.client import Client
from nats.js.object_store import ObjectStore

from bus import activation, subjects
from bus.replay import delete_answers
from persistence import retention

log = logging.getLogger(__name__)


async def serve_deletes(nc: Client, pool: asyncpg.Pool, replay: ObjectStore | None) -> Any:
    """Subscribe this node to the delete requests (queue group of the session nodes);
    returns the subscription (unsubscribe it when draining)."""

    async def on_delete(msg: Any) -> None:
        try:
            req = activation.decode_delete_request(msg.data)
        except msgspec.MsgspecError as exc:
            reply = activation.DeleteReply(ok=False, message=f"bad request: {exc}")
        else:
            sid = req.session_id
            try:
                turns = await retention.session_turns(pool, sid)
                audio = 0 if replay is None else await delete_answers(replay, sid, turns)
                deleted = await retention.delete_session(pool, sid)
            except Exception as exc:  # Postgres away: the edge answers 503, the user retries
                log.warning("session %s: delete failed: %r", sid, exc)
                reply = activation.DeleteReply(ok=False, message="the delete did not complete")
            else:
                log.info("session %s deleted by its owner (%d answers with audio)", sid, audio)
                reply = activation.DeleteReply(ok=True, deleted=deleted, audio=audio)
        with contextlib.suppress(Exception):
            await msg.respond(activation.encode(reply))

    return await nc.subscribe(subjects.DELETE, queue=subjects.SESSION_NODES_QUEUE, cb=on_delete)
