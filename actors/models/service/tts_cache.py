"""The TTS audio cache in the JetStream object store: hash(engine, voice, text) -> PCM.

A repeated phrase (acknowledgments, the greeting, a redelivered job) costs a lookup instead
of a synthesis. Entries are the sample rate (4 bytes, little-endian) then PCM16LE mono.
Cache trouble never fails a job: a failed or slow get is a miss, a failed put is ignored.
Only texts up to :data:`MAX_CACHED_TEXT` characters are stored (the store itself is bounded
by its bucket's limits, see :mod:`bus.provision`).
"""

from __future__ import annotations

__all__ = ["MAX_CACHED_TEXT", "TtsCache"]

import asyncio
import contextlib
import hashlib
import struct

from nats.js.object_store import ObjectStore

_HDR = struct.Struct("<I")
MAX_CACHED_TEXT = 600
_GET_TIMEOUT_S = 2.0
_PUT_TIMEOUT_S = 5.0


class TtsCache:
    """Get and put synthesized audio by :meth:`key`."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @staticmethod
    def key(engine: str, voice: str, text: str) -> str:
        return hashlib.sha256(f"{engine}\x1f{voice}\x1f{text}".encode()).hexdigest()

    async def get(self, key: str) -> tuple[int, bytes] | None:
        """(sample rate, PCM) if cached, else None."""
        try:
            res = await asyncio.wait_for(self.store.get(key), _GET_TIMEOUT_S)
        except Exception:
            return None
        blob = bytes(res.data) if res.data else b""
        if len(blob) < _HDR.size:
            return None
        return _HDR.unpack_from(blob)[0], blob[_HDR.size :]

    async def put(self, key: str, text: str, sample_rate: int, pcm: bytes) -> None:
        """Store ``pcm`` unless it is empty or ``text`` is too long to be worth caching."""
        if not pcm or len(text) > MAX_CACHED_TEXT:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.store.put(key, _HDR.pack(sample_rate) + pcm), _PUT_TIMEOUT_S
            )
