"""The stored snapshot of a session: the core's state plus what the shell must carry over.

The ``sessions.snapshot`` column holds :class:`ShellSnapshot` as msgpack: the core's own
snapshot (:meth:`SessionCore.snapshot`), the last result-stream sequence consumed (the next
owner replays from the one after it) and the ids of the last client events taken (so an
event the edge re-sends after a failover is not taken twice).
"""

from __future__ import annotations

__all__ = ["ShellSnapshot", "decode_shell_snapshot", "decode_stored_state", "encode_shell_snapshot"]

import msgspec

from actors.session.state import SessionState


class ShellSnapshot(msgspec.Struct):
    core: bytes
    result_seq: int = 0
    seen_in: list[str] = []


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ShellSnapshot)
_state_decoder = msgspec.msgpack.Decoder(SessionState)


def encode_shell_snapshot(snap: ShellSnapshot) -> bytes:
    return _encoder.encode(snap)


def decode_shell_snapshot(blob: bytes) -> ShellSnapshot:
    """Raises :class:`msgspec.DecodeError` on bytes that are not a shell snapshot."""
    return _decoder.decode(blob)


def decode_stored_state(blob: bytes) -> SessionState:
    """The core's state inside a stored snapshot (to read its counters, say)."""
    return _state_decoder.decode(decode_shell_snapshot(blob).core)
