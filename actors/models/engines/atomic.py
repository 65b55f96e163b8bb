"""Write a file so that readers see the old content or the new, never a part.

The bytes go to a temporary file in the same directory (a unique name, so two processes
writing the same path do not collide), optionally flushed to disk, then ``os.replace``
puts it in place. On any error the temporary file is removed and the error raised.
"""

from __future__ import annotations

__all__ = ["write_atomic"]

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically (creating its directory); ``fsync``: also
    flush the data to disk before the rename (for files worth surviving a power cut)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
