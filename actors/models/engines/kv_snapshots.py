"""A bounded LRU of llama.cpp KV-cache snapshots, restored by longest shared prefix.

llama.cpp reuses the longest common prefix of what it evaluated last; interleaved sessions
and assessment jobs would throw away each other's prefix. Keeping snapshots (per session and
prompt family, plus pinned static instruction prefixes) and restoring the one that shares
the longest prefix with a new prompt keeps prefill short. Bounded by count and bytes
(each snapshot is ~20 KB per prompt token); pinned snapshots are never evicted.

Touches one llama.cpp context: the caller serialises calls (the engine holds its lock).
"""

from __future__ import annotations

__all__ = ["KvSnapshots", "common_prefix"]

import ctypes
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from actors.models.engines import EngineError


@dataclass
class _Snapshot:
    """The evaluated tokens and llama.cpp's serialised context (the KV cache)."""

    tokens: npt.NDArray[np.intc]
    data: bytes


def common_prefix(a: npt.NDArray[np.intc], b: npt.NDArray[np.intc]) -> int:
    """Length of the common prefix of two token arrays."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if len(diff) else n


class KvSnapshots:
    """Snapshots of one ``llama_cpp.Llama``'s context, at most ``max_count`` and
    ``max_bytes`` of unpinned ones (least recently used go first)."""

    def __init__(self, *, max_bytes: int, max_count: int) -> None:
        self._max_bytes = max_bytes
        self._max_count = max_count
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()
        self._pinned: set[str] = set()

    def __len__(self) -> int:
        return len(self._snapshots)

    def keys(self) -> list[str]:
        """Snapshot keys, least recently used first."""
        return list(self._snapshots)

    def save(self, llm: Any, key: str, *, pin: bool = False) -> None:
        """Snapshot ``llm``'s current context under ``key`` (evicting as needed)."""
        # Llama.save_state() would also copy up to n_batch x n_vocab float logits (~150 MB);
        # the serialised context alone (KV cache) is all a prefix restore needs.
        from llama_cpp import llama_cpp as lib

        ctx = llm._ctx.ctx
        size = int(lib.llama_state_get_size(ctx))
        buf = (ctypes.c_uint8 * size)()
        n = int(lib.llama_state_get_data(ctx, buf, size))
        snap = _Snapshot(
            tokens=np.array(llm.input_ids[: llm.n_tokens], dtype=np.intc), data=bytes(buf)[:n]
        )
        self._snapshots[key] = snap
        self._snapshots.move_to_end(key)
        if pin:
            self._pinned.add(key)
        self._evict()

    def data(self, key: str) -> tuple[list[int], bytes]:
        """The tokens and serialised context of snapshot ``key`` (KeyError if absent)."""
        snap = self._snapshots[key]
        return snap.tokens.tolist(), snap.data

    def adopt(self, llm: Any, key: str, tokens: list[int], data: bytes, *, pin: bool) -> bool:
        """Load ``data`` (a context serialised by :meth:`save`, e.g. kept on disk) into
        ``llm`` and keep it as snapshot ``key`` of ``tokens``. False, and nothing kept,
        when llama.cpp does not accept it whole (another model, context size or build)."""
        from llama_cpp import llama_cpp as lib

        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if int(lib.llama_state_set_data(llm._ctx.ctx, buf, len(data))) != len(data):
            llm.reset()
            return False
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        llm._requires_eval = True
        self._snapshots[key] = _Snapshot(tokens=np.array(tokens, dtype=np.intc), data=data)
        self._snapshots.move_to_end(key)
        if pin:
            self._pinned.add(key)
        self._evict()
        return True

    def _evict(self) -> None:
        def total() -> int:
            return sum(len(s.data) for s in self._snapshots.values())

        while len(self._snapshots) > self._max_count or total() > self._max_bytes:
            victim = next((k for k in self._snapshots if k not in self._pinned), None)
            if victim is None:
                return
            del self._snapshots[victim]

    def restore_best(self, llm: Any, tokens: list[int]) -> int:
        """Make ``llm``'s context start with the longest available prefix of ``tokens``;
        return the number of prompt tokens that need no evaluation."""
        from llama_cpp import llama_cpp as lib

        want = np.array(tokens, dtype=np.intc)
        live = common_prefix(np.asarray(llm.input_ids[: llm.n_tokens]), want)
        best_key, best = None, live
        for key, snap in self._snapshots.items():
            n = common_prefix(snap.tokens, want)
            if n > best:
                best_key, best = key, n
        if best_key is not None:
            snap = self._snapshots[best_key]
            buf = (ctypes.c_uint8 * len(snap.data)).from_buffer_copy(snap.data)
            if int(lib.llama_state_set_data(llm._ctx.ctx, buf, len(snap.data))) != len(snap.data):
                raise EngineError("could not restore a KV snapshot")
            llm.input_ids[: len(snap.tokens)] = snap.tokens
            llm.n_tokens = len(snap.tokens)
            # Logits of the restored state are not restored: force one token to be
            # re-evaluated before sampling.
            llm._requires_eval = True
            self._snapshots.move_to_end(best_key)
        return best
