"""Every error the persistence layer raises of its own, in one tree (one root per
package: see the "Errors" section of docs/design.md for the others)::

    PersistenceError
    └── StaleFence        a snapshot write was refused: a newer owner wrote since

Besides these, the functions let asyncpg's errors through unchanged (a connection cut,
Postgres refusing a value); the session shell's store names them for its caller
(:mod:`actors.session.live`).
"""

from __future__ import annotations

__all__ = ["PersistenceError", "StaleFence"]


class PersistenceError(Exception):
    """Root of the persistence errors."""


class StaleFence(PersistenceError):
    """The snapshot write was rejected: a newer owner has written since."""
