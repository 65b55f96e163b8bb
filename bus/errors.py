"""Every error the bus layer raises, in one tree (one root per package: see the
"Errors" section of docs/design.md for the others)::

    ParleyBusError
    ├── BadMessage        a message failed to decode (carries a short ``code``)
    ├── JobRejected       JetStream refused a job publish
    ├── BadJob            a worker's handler: this job can never succeed (bad input);
    │                     the worker terminates it and sends a ``JobError`` at once
    └── NatsAuthError     the server refused the credentials of the first connect

Anything else a worker's handler raises is taken as passing: the job is nak'ed with a
growing delay and retried until its last delivery (:mod:`bus.worker`).
"""

from __future__ import annotations

__all__ = [
    "BadJob",
    "BadMessage",
    "BadMessageCode",
    "JobRejected",
    "NatsAuthError",
    "ParleyBusError",
]

from typing import Literal

#: ``bad_json``/``bad_message`` for client JSON, ``bad_msgpack`` for bus msgpack
BadMessageCode = Literal["bad_json", "bad_message", "bad_msgpack"]


class ParleyBusError(Exception):
    """Root of the bus errors."""


class BadMessage(ParleyBusError):
    """A message could not be decoded. ``code`` is machine-readable (``bad_json``,
    ``bad_message``); ``reason`` is for humans."""

    def __init__(self, code: BadMessageCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class JobRejected(ParleyBusError):
    """JetStream did not accept a job (no stream, or the server said no)."""


class BadJob(ParleyBusError):
    """Raise from a worker's handler when the job can never succeed (bad input)."""


class NatsAuthError(ParleyBusError):
    """The server refused the credentials of the first connect (no retry: they will not
    get better). Later reconnects keep retrying, e.g. while credentials are rotated.
    Not an ``OSError``: nats-py's connect loop retries those."""
