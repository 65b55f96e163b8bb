"""Every error the actors raise of their own, in one tree (one root per package: see the
"Errors" section of docs/design.md for the others)::

    ActorError
    ├── LeaseHeld             another node holds the session's lease (actors.runtime)
    ├── LeaseLost             the lease could not be renewed: stop acting at once
    ├── StoreError            what a session store raises (actors.session.seam)
    │   ├── StoreUnavailable  the write did not land, for a reason that passes: retry
    │   └── StoreRefused      the store refused this write's content: retry it cleaned
    ├── EngineError           an engine could not do its work (also a RuntimeError);
    │   └── EngineCancelled   the call stopped early because it was cancelled
    └── AssetError            a model file is missing or does not match (also a
                              RuntimeError)

The session shell also meets ``persistence.errors.StaleFence`` (a newer owner wrote) and
the bus's ``ParleyBusError`` tree (:mod:`bus.errors`).
"""

from __future__ import annotations

__all__ = [
    "ActorError",
    "AssetError",
    "EngineCancelled",
    "EngineError",
    "LeaseHeld",
    "LeaseLost",
    "StoreError",
    "StoreRefused",
    "StoreUnavailable",
]


class ActorError(Exception):
    """Root of the actors' errors."""


class LeaseHeld(ActorError):
    """Another node holds the lease."""


class LeaseLost(ActorError):
    """The lease could not be renewed: stop acting at once."""


class StoreError(ActorError):
    """Root of what a session store raises (besides ``StaleFence``)."""


class StoreUnavailable(StoreError):
    """The write did not land, for a reason that passes: try it again."""


class StoreRefused(StoreError):
    """The store refused this write's content (text a model produced, say)."""


class EngineError(ActorError, RuntimeError):
    """An engine could not do its work (model missing, child process died, bad input).
    The actor turns it into a ``JobError`` for that one job; the engine stays usable
    unless ``load()`` itself raised."""


class EngineCancelled(EngineError):
    """The call stopped early because its ``cancel`` Event was set; there is no result.
    The engine stays usable."""


class AssetError(ActorError, RuntimeError):
    """A model file is missing, incomplete or does not match its expected size/hash."""
