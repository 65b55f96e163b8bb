"""Session tokens: ``<session id>.<expiry>.<HMAC-SHA256>``, signed with the server secret.

A token is a capability for one session: it lets its holder resume that session and read
its report, and nothing else. Verification is constant-time.
"""

from __future__ import annotations

__all__ = ["TokenError", "sign", "verify"]

import base64
import hashlib
import hmac
import time

DEFAULT_TTL = 30 * 24 * 3600


class TokenError(Exception):
    """The token is malformed, expired, forged or for another session."""


def _mac(secret: bytes, sid: str, expiry: int) -> str:
    digest = hmac.new(secret, f"{sid}.{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret: bytes, sid: str, *, ttl: int = DEFAULT_TTL, now: float | None = None) -> str:
    expiry = int((now if now is not None else time.time()) + ttl)
    return f"{sid}.{expiry}.{_mac(secret, sid, expiry)}"


def verify(secret: bytes, token: str, sid: str, *, now: float | None = None) -> None:
    """Return if ``token`` grants access to ``sid``; raise :class:`TokenError` otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed token")
    tsid, texp, tmac = parts
    try:
        expiry = int(texp)
    except ValueError:
        raise TokenError("malformed token") from None
    expected = _mac(secret, tsid, expiry)
    if not hmac.compare_digest(expected.encode(), tmac.encode()):
        raise TokenError("bad signature")
    if not hmac.compare_digest(tsid.encode(), sid.encode()):
        raise TokenError("token is for another session")
    if (now if now is not None else time.time()) > expiry:
        raise TokenError("token expired")
