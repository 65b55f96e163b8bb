"""Engine state saved on disk so the next start restores it instead of computing it again.

What the LLM engine evaluates at every start (the static prompt prefixes: about 2,700
tokens, 80-110 s on one thread here) is the same bytes each time for the same model file,
build, library version, context settings and prompt text. :class:`StateStore` keeps such
byte strings in files under the model cache, one per (name, text), and hands them back only
when everything that could change them is unchanged:

* the store's **identity** (a mapping given by the engine: the model file's sha256, the
  llama-cpp-python version, the CPU features of the build, the context settings) must be
  equal, field by field;
* the entry's **text** (the prompt it was evaluated from) must have the same sha256, and
  its **tokens** must equal the tokens the caller has just made from that text;
* the file must be whole: magic, format version, exact length, and a BLAKE2b digest over
  tokens and data.

Anything else is a miss (logged with the reason; a damaged file is deleted), and the caller
evaluates as on a first start. The caller should still check that its library accepts the
bytes (``llama_state_set_data`` reports what it read).

Files are written to a temporary name in the same directory, flushed, and renamed into
place, so a crash (or a second process writing the same entry) never leaves a half file
under the real name. The directory is bounded: after each write, the least recently used
files (by mtime, refreshed on every hit) are deleted until the total is at most
``max_bytes``, entries of other identities (an older model or build) first.

File layout: ``PARLEYST`` (8 bytes), format version (u32 LE), header length (u32 LE), the
header (JSON: identity, name, text sha256, token count, data length, digest), the tokens
(int32 LE), the data.
"""

from __future__ import annotations

__all__ = ["FORMAT_VERSION", "StateStore"]

import contextlib
import hashlib
import json
import logging
import os
import struct
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from actors.models.engines.atomic import write_atomic

log = logging.getLogger(__name__)

MAGIC = b"PARLEYST"
FORMAT_VERSION = 1
_FIXED = struct.Struct("<8sII")
_SUFFIX = ".state"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digest(tokens: bytes, data: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(tokens)
    h.update(data)
    return h.hexdigest()


class StateStore:
    """Byte strings keyed by (``name``, text) under ``root``, valid for one ``identity``
    (see the module docstring). Safe to share between processes; not thread-safe within one
    (the engine calls it from its own thread)."""

    def __init__(self, root: Path, identity: Mapping[str, str], *, max_bytes: int) -> None:
        self.root = root
        self.identity = dict(sorted(identity.items()))
        self.max_bytes = max_bytes
        #: the identity's short id: the prefix of every file name of this identity
        self.tag = hashlib.sha256(json.dumps(self.identity).encode()).hexdigest()[:16]
        #: hits and misses so far (for the start-up log and the tests)
        self.hits = 0
        self.misses = 0

    def path(self, name: str, text: str) -> Path:
        """Where the entry for ``name`` and ``text`` lives."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:48]
        return self.root / f"{self.tag}-{safe}-{_sha256(text)[:16]}{_SUFFIX}"

    def has(self, name: str, text: str) -> bool:
        """Whether an entry exists (not whether it is valid: :meth:`get` checks that)."""
        return self.path(name, text).is_file()

    def get(self, name: str, text: str, tokens: Sequence[int]) -> bytes | None:
        """The data saved for ``name``/``text`` with exactly ``tokens``, or None."""
        path = self.path(name, text)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError as exc:
            log.warning("state %s unreadable (%s): evaluating instead", path.name, exc)
            self.misses += 1
            return None
        data, why = self._check(blob, name, text, tokens)
        if data is None:
            log.warning("state %s not used: %s", path.name, why)
            if why.startswith("damaged"):
                path.unlink(missing_ok=True)
            self.misses += 1
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: the last to be evicted
        self.hits += 1
        return data

    def _check(
        self, blob: bytes, name: str, text: str, tokens: Sequence[int]
    ) -> tuple[bytes | None, str]:
        if len(blob) < _FIXED.size:
            return None, "damaged: too short"
        magic, version, head_len = _FIXED.unpack_from(blob)
        if magic != MAGIC:
            return None, "damaged: not a state file"
        if version != FORMAT_VERSION:
            return None, f"format {version}, expected {FORMAT_VERSION}"
        try:
            head = json.loads(blob[_FIXED.size : _FIXED.size + head_len])
            n_tokens, data_len = int(head["n_tokens"]), int(head["data_len"])
        except (ValueError, KeyError, TypeError):
            return None, "damaged: bad header"
        if head.get("identity") != self.identity:
            return None, "made for another model, build or setting"
        if head.get("name") != name or head.get("text_sha256") != _sha256(text):
            return None, "made for another prompt"
        start = _FIXED.size + head_len
        if len(blob) != start + 4 * n_tokens + data_len:
            return None, "damaged: wrong length"
        tok_bytes = blob[start : start + 4 * n_tokens]
        data = blob[start + 4 * n_tokens :]
        if head.get("digest") != _digest(tok_bytes, data):
            return None, "damaged: digest mismatch"
        if np.frombuffer(tok_bytes, dtype="<i4").tolist() != list(tokens):
            return None, "the prompt tokenizes differently now"
        return data, ""

    def put(self, name: str, text: str, tokens: Sequence[int], data: bytes) -> None:
        """Save ``data`` for ``name``/``text`` (atomically), then bound the directory.
        Failures are logged, never raised: a missing entry only costs the next start."""
        tok_bytes = np.asarray(tokens, dtype="<i4").tobytes()
        head = json.dumps(
            {
                "identity": self.identity,
                "name": name,
                "text_sha256": _sha256(text),
                "n_tokens": len(tokens),
                "data_len": len(data),
                "digest": _digest(tok_bytes, data),
            }
        ).encode()
        path = self.path(name, text)
        blob = b"".join((_FIXED.pack(MAGIC, FORMAT_VERSION, len(head)), head, tok_bytes, data))
        try:
            write_atomic(path, blob, fsync=True)
        except OSError as exc:
            log.warning("could not save state %s: %s", path.name, exc)
            return
        self.prune()

    def prune(self) -> int:
        """Delete files until the directory holds at most ``max_bytes`` (other identities'
        files first, then the least recently used) and leftover temporary files; return
        the bytes now held."""
        files: list[tuple[bool, float, int, Path]] = []
        with contextlib.suppress(OSError):
            for p in self.root.iterdir():
                try:
                    st = p.stat()
                except OSError:
                    continue
                if p.name.endswith(".tmp"):
                    # a writer that crashed (a live one renames within a second)
                    if st.st_mtime < time.time() - 600:
                        p.unlink(missing_ok=True)
                    continue
                if p.suffix == _SUFFIX:
                    files.append((p.name.startswith(self.tag), st.st_mtime, st.st_size, p))
        total = sum(f[2] for f in files)
        for _mine, _mtime, size, p in sorted(files):  # other identities, then oldest first
            if total <= self.max_bytes:
                break
            log.info("state store over %d MB: removing %s", self.max_bytes >> 20, p.name)
            p.unlink(missing_ok=True)
            total -= size
        return total
