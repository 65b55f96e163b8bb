"""The sha256 of a large model file, computed once and remembered.

Hashing the 1.1 GB GGUF costs seconds, which a warm start cannot pay; so the digest is
kept in a small JSON file (one entry per path, at most :data:`MAX_ENTRIES`) together with
the file's size, mtime, ctime and inode, and reused while all four are unchanged. Any write
to the file or its replacement (a rename changes the inode, a write the mtime and ctime,
and ctime cannot be set back from user space) makes the entry stale and the file is hashed
again. Cache trouble (unreadable, corrupt, unwritable) costs a re-hash, never an error.

Call from a worker thread: a miss reads the whole file.
"""

from __future__ import annotations

__all__ = ["MAX_ENTRIES", "sha256_of"]

import contextlib
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from actors.models.engines.atomic import write_atomic

log = logging.getLogger(__name__)

#: Paths remembered in one cache file (the oldest entries go first).
MAX_ENTRIES = 32
_BLOCK = 1 << 20


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _read(cache: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(cache: Path, entries: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        write_atomic(cache, json.dumps(entries).encode())


def sha256_of(path: Path, cache: Path) -> str:
    """The hex sha256 of ``path``, from ``cache`` when the file is unchanged since it was
    hashed, else computed (the whole file is read) and remembered. Raises ``OSError`` when
    ``path`` cannot be read."""
    key = str(path.resolve())
    st = path.stat()
    entries = _read(cache)
    entry = entries.get(key)
    if isinstance(entry, dict) and entry.get("stamp") == _stamp(st):
        sha = entry.get("sha256")
        if isinstance(sha, str) and len(sha) == 64:
            return sha
    started = time.monotonic()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    sha = digest.hexdigest()
    after = path.stat()
    if _stamp(after) != _stamp(st):  # changed while we read it: do not remember
        return sha
    log.info("sha256 of %s computed in %.1f s (remembered)", path.name, time.monotonic() - started)
    entries = _read(cache)  # another process may have added entries meanwhile
    entries.pop(key, None)
    entries[key] = {"stamp": _stamp(st), "sha256": sha}
    while len(entries) > MAX_ENTRIES:
        entries.pop(next(iter(entries)))
    _write(cache, entries)
    return sha
