"""The server -> client audio frame (docs/protocol.md, "Frames"): one place for its bytes.

A frame is a 12-byte little-endian header, then PCM16LE mono::

    version u8 (= 1) | kind u8 (1 = interviewer speech) | turn u16 | chunk u32 | rate u32

The session actor builds frames with :func:`encode_frame`; a client (the test client,
the benches) reads them with :func:`decode_header`. Client -> server audio has no header:
on the bus it is the ``.in`` request body, marked with :data:`bus.subjects.HDR_AUDIO`.
"""

from __future__ import annotations

__all__ = [
    "HEADER",
    "HEADER_BYTES",
    "KIND_SPEECH",
    "VERSION",
    "FrameHeader",
    "decode_header",
    "encode_frame",
]

import struct
from typing import NamedTuple

HEADER = struct.Struct("<BBHII")
HEADER_BYTES = HEADER.size
VERSION = 1
KIND_SPEECH = 1


class FrameHeader(NamedTuple):
    version: int
    kind: int
    turn: int
    chunk: int
    sample_rate: int


def encode_frame(turn: int, chunk: int, sample_rate: int, pcm: bytes) -> bytes:
    """One frame of interviewer speech; ``turn`` wraps at 2**16, ``chunk`` at 2**32."""
    return HEADER.pack(VERSION, KIND_SPEECH, turn & 0xFFFF, chunk & 0xFFFFFFFF, sample_rate) + pcm


def decode_header(frame: bytes) -> FrameHeader:
    """The header of a frame; the PCM is ``frame[HEADER_BYTES:]``. Raises
    :class:`struct.error` when the frame is shorter than the header."""
    return FrameHeader(*HEADER.unpack_from(frame))
