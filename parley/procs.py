"""Small process helpers shared by the supervisor, its children and the embedded servers.

- :func:`die_with_parent` (from :mod:`bus.embedded`) is a ``preexec_fn``: the child gets a
  signal when the thread that forked it dies, even by SIGKILL (``PR_SET_PDEATHSIG``).
- :func:`name_process` shows the role in ``ps`` (``parley: llm``) and in ``top``.
- :func:`describe_exit` turns a return code into words for the log (``killed by SIGSEGV``).
"""

from __future__ import annotations

__all__ = ["describe_exit", "die_with_parent", "name_process"]

import ctypes
import ctypes.util
import signal

from bus.embedded import die_with_parent

_PR_SET_NAME = 15


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def name_process(title: str) -> None:
    """Show ``title`` as this process's command line in ``ps`` and its name in ``top``."""
    try:
        import setproctitle

        setproctitle.setproctitle(title)
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    # the kernel's comm (15 bytes) is what top and `ps -o comm` show
    _libc().prctl(_PR_SET_NAME, title.replace(": ", "-").encode()[:15], 0, 0, 0)


def describe_exit(returncode: int) -> str:
    """``"exit 1"``, ``"killed by SIGSEGV"`` ... for a ``Popen.returncode``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"
