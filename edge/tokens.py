"""Every token the edge issues or accepts goes through :class:`Tokens`: the HMAC check of
:mod:`edge.auth` (form, signature, session, kind, expiry) and then the revocation check
(:mod:`persistence.revocations`): a deleted session's tokens stop working on every edge
at once. A check that cannot reach Postgres raises :class:`RevocationUnavailable` (the
caller answers "try again", never "bad token", so a client does not forget its session
over a database restart).
"""

from __future__ import annotations

__all__ = ["Tokens"]

import logging

import asyncpg

from edge import auth
from edge.errors import RevocationUnavailable, TokenError
from persistence.revocations import is_revoked

log = logging.getLogger(__name__)


class Tokens:
    """Issue and check the tokens of one edge. ``pool`` None: no revocation store (an
    edge without Postgres; only tests run so)."""

    def __init__(
        self, secret: bytes, pool: asyncpg.Pool | None, *, session_ttl_s: float | None = None
    ) -> None:
        self.secret = secret
        self.pool = pool
        self.ttl: dict[auth.Kind, float] = dict(auth.TTL)
        if session_ttl_s is not None:
            self.ttl[auth.SESSION] = session_ttl_s

    def issue(self, sid: str, kind: auth.Kind = auth.SESSION) -> str:
        return auth.sign(self.secret, sid, kind=kind, ttl=self.ttl[kind])

    async def check(
        self, token: str, sid: str, kinds: tuple[auth.Kind, ...] = (auth.SESSION,)
    ) -> auth.Kind:
        """The kind of ``token`` when it is good for ``sid`` and the session was not
        revoked; :class:`TokenError` otherwise (one message for every reason)."""
        kind = auth.verify(self.secret, token, sid, kinds=kinds)
        if self.pool is None:
            return kind
        try:
            revoked = await is_revoked(self.pool, sid)
        except Exception as exc:
            log.warning("token check for %s: revocations unavailable: %r", sid, exc)
            raise RevocationUnavailable from None
        if revoked:
            raise TokenError
        return kind
