"""The activation request on ``interview.activate`` (edge -> session nodes' queue group).

The edge asks some session node to own a session; the node that answers has claimed the
lease (``ok``), or found it owned elsewhere (``ok`` with ``code="elsewhere"``), or refuses
with a code: ``unknown_session``, ``busy`` (at capacity), ``bad_message``, ``unavailable``.
"""

from __future__ import annotations

__all__ = ["ActivateReply", "ActivateRequest", "decode_reply", "decode_request", "encode"]

import msgspec


class ActivateRequest(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    create: bool = False


class ActivateReply(msgspec.Struct):
    ok: bool
    code: str = ""
    message: str = ""
    node: str = ""


_request_decoder = msgspec.json.Decoder(ActivateRequest)
_reply_decoder = msgspec.json.Decoder(ActivateReply)
_encoder = msgspec.json.Encoder()


def decode_request(data: bytes) -> ActivateRequest:
    """Raises ``msgspec.MsgspecError`` on anything that is not a valid request."""
    req: ActivateRequest = _request_decoder.decode(data)
    return req


def decode_reply(data: bytes) -> ActivateReply:
    reply: ActivateReply = _reply_decoder.decode(data)
    return reply


def encode(msg: ActivateRequest | ActivateReply) -> bytes:
    return _encoder.encode(msg)
