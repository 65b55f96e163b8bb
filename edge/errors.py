"""Every error the edge raises of its own, in one tree (one root per package: see the
"Errors" section of docs/design.md for the others)::

    EdgeError
    ├── TokenError             a token is not valid for this session and purpose
    └── RevocationUnavailable  whether the session was revoked cannot be told now

A refusal the gateway sends a client is not an exception past the gateway: it is an
``error`` event with a :data:`bus.events.ErrorCode` (docs/protocol.md, "Errors").
"""

from __future__ import annotations

__all__ = ["EdgeError", "RevocationUnavailable", "TokenError"]


class EdgeError(Exception):
    """Root of the edge's errors."""


class TokenError(EdgeError):
    """The token is not valid for this session and purpose (one message for every
    reason)."""

    def __init__(self) -> None:
        super().__init__("invalid or expired token")


class RevocationUnavailable(EdgeError):
    """The revocation store (Postgres) did not answer: the token cannot be accepted now,
    and is not known to be bad either (answer "unavailable", not "bad token")."""

    def __init__(self) -> None:
        super().__init__("token check unavailable; try again")
