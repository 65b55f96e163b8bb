"""Requests from the edge to the session nodes' queue group.

- ``interview.activate``: the edge asks some session node to own a session; the node that
  answers has claimed the lease (``ok``), or found it owned elsewhere (``ok`` with
  ``code="elsewhere"``), or refuses with a code: ``unknown_session``, ``busy`` (at
  capacity), ``bad_message``, ``unavailable``.
- ``interview.delete``: the candidate deletes an interview ("delete my interview",
  ``DELETE /sessions/<id>``). The edge checks the session token and asks; a session node
  (the only role that may delete answer audio, :mod:`bus.auth`) deletes the answers'
  audio and the session's rows and revokes its tokens, and answers how many answers had
  audio. The edge itself can neither write nor delete objects of the answer store.
"""

from __future__ import annotations

__all__ = [
    "ActivateReply",
    "ActivateRequest",
    "DeleteReply",
    "DeleteRequest",
    "decode_delete_reply",
    "decode_delete_request",
    "decode_reply",
    "decode_request",
    "encode",
]

import msgspec

from bus.events import SessionId


class ActivateRequest(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    create: bool = False


class ActivateReply(msgspec.Struct):
    ok: bool
    code: str = ""
    message: str = ""
    node: str = ""


class DeleteRequest(msgspec.Struct, forbid_unknown_fields=True):
    session_id: SessionId


class DeleteReply(msgspec.Struct):
    ok: bool
    deleted: bool = False
    #: answers whose audio was deleted
    audio: int = 0
    message: str = ""


_request_decoder = msgspec.json.Decoder(ActivateRequest)
_delete_decoder = msgspec.json.Decoder(DeleteRequest)
_delete_reply_decoder = msgspec.json.Decoder(DeleteReply)
_reply_decoder = msgspec.json.Decoder(ActivateReply)
_encoder = msgspec.json.Encoder()


def decode_request(data: bytes) -> ActivateRequest:
    """Raises ``msgspec.MsgspecError`` on anything that is not a valid request."""
    req: ActivateRequest = _request_decoder.decode(data)
    return req


def decode_reply(data: bytes) -> ActivateReply:
    reply: ActivateReply = _reply_decoder.decode(data)
    return reply


def decode_delete_request(data: bytes) -> DeleteRequest:
    """Raises ``msgspec.MsgspecError`` on anything that is not a valid request."""
    return _delete_decoder.decode(data)


def decode_delete_reply(data: bytes) -> DeleteReply:
    return _delete_reply_decoder.decode(data)


def encode(msg: ActivateRequest | ActivateReply | DeleteRequest | DeleteReply) -> bytes:
    return _encoder.encode(msg)
