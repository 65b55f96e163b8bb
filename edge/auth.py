"""Tokens: ``<session id>.<expiry>.<HMAC-SHA256>``, signed with the server secret.

Three kinds, told apart by the MAC's domain (a token of one kind never verifies as
another), each with its own lifetime (:data:`TTL`):

- a **session token** (:data:`SESSION`, hours) lets its holder resume and drive that
  session, read its report and hear its answers, get the other two, and delete it; the
  edge hands a fresh one on every resume, so an interview in progress never runs out;
- a **report token** (:data:`REPORT`, 30 days) only lets its holder read the report: it
  is what the shareable link carries;
- a **replay token** (:data:`REPLAY`, one hour) only lets its holder fetch the session's
  answer audio: the short-lived signed URL of the page's replay player.

Tokens are stateless; a deleted session's tokens are refused by the revocation check
that every use makes besides this one (:mod:`edge.tokens`).

Parsing is strict and canonical: the session id matches the protocol's pattern, the
expiry is a plain decimal without sign, spaces or leading zeros, the MAC is exactly 43
unpadded base64url characters. Whatever is wrong (form, signature, session, kind,
expiry) raises the same :class:`TokenError`, so a 401 says nothing about which check
failed. Verification is constant-time in the MAC.
"""

from __future__ import annotations

__all__ = ["REPLAY", "REPORT", "SESSION", "TTL", "Kind", "TokenError", "sign", "verify"]

import base64
import hashlib
import hmac
import re
import time
from typing import Literal

from edge.errors import TokenError

Kind = Literal["session", "report", "replay"]
SESSION: Kind = "session"
REPORT: Kind = "report"
REPLAY: Kind = "replay"

#: default lifetime of each kind, in seconds
TTL: dict[Kind, int] = {SESSION: 12 * 3600, REPORT: 30 * 24 * 3600, REPLAY: 3600}

_TOKEN = re.compile(
    r"(?P<sid>[A-Za-z0-9_-]{8,64})\.(?P<exp>[1-9][0-9]{0,11})\.(?P<mac>[A-Za-z0-9_-]{43})"
)


def _mac(secret: bytes, kind: Kind, sid: str, expiry: int) -> str:
    # the session kind keeps the original message, so tokens issued before report
    # tokens existed stay valid
    msg = f"{sid}.{expiry}" if kind == SESSION else f"{kind}:{sid}.{expiry}"
    digest = hmac.new(secret, msg.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(
    secret: bytes,
    sid: str,
    *,
    ttl: float | None = None,
    now: float | None = None,
    kind: Kind = SESSION,
) -> str:
    """A token of ``kind`` for ``sid``, valid ``ttl`` seconds (the kind's default)."""
    expiry = int((now if now is not None else time.time()) + (TTL[kind] if ttl is None else ttl))
    return f"{sid}.{expiry}.{_mac(secret, kind, sid, expiry)}"


def verify(
    secret: bytes,
    token: str,
    sid: str,
    *,
    now: float | None = None,
    kinds: tuple[Kind, ...] = (SESSION,),
) -> Kind:
    """Return the kind of ``token`` if it is one of ``kinds`` for ``sid`` and not expired;
    raise :class:`TokenError` otherwise."""
    m = _TOKEN.fullmatch(token) if token.isascii() else None
    if m is None:
        raise TokenError
    tsid, expiry, tmac = m["sid"], int(m["exp"]), m["mac"]
    found: Kind | None = None
    for kind in kinds:
        if hmac.compare_digest(_mac(secret, kind, tsid, expiry).encode(), tmac.encode()):
            found = kind
    if found is None or not hmac.compare_digest(tsid.encode(), sid.encode()):
        raise TokenError
    if (now if now is not None else time.time()) > expiry:
        raise TokenError
    return found
