"""Errors raised by the bus layer.

::

    ParleyBusError
    ├── BadMessage        a message failed to decode (carries a short ``code``)
    └── JobRejected       JetStream refused a job publish
"""

from __future__ import annotations

__all__ = ["BadMessage", "BadMessageCode", "JobRejected", "ParleyBusError"]

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
