"""``parley bench models --only startup``: how long the LLM takes to be ready, as an
operator meets it.

Runs ``parley up --role llm`` (its own embedded nats-server and Postgres in a temporary
data directory, on free ports) three times over, each timed from the ``parley up`` command
to the supervisor's ``llm ready`` line:

1. a **first start** with an empty state store (``PARLEY_LLM_STATE_DIR`` a fresh
   directory): the static prompt prefixes are evaluated (what ``make run`` pays once);
2. a **second start** against the same store: they are restored from disk (a warm start);
3. **SIGSEGV** of the running LLM process: the supervisor's restart, timed from the
   signal to ``llm ready again``.

The model file itself stays where it is (in the model cache), so its one-off assembly
from the packages is not counted. Other work on the machine skews the figures: the load
average is printed beside each.
"""

from __future__ import annotations

__all__ = ["bench_startup"]

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bus.embedded import free_port

_STARTED = re.compile(r"llm started \(pid (\d+)\)")
_READY = re.compile(r"llm ready( again)? ([\d.]+) s after its start")


class _Up:
    """A ``parley up --role llm`` whose output lines are watched."""

    def __init__(self, data: Path, state: Path) -> None:
        env = {
            **os.environ,
            "PARLEY_DATA_DIR": str(data),
            "PARLEY_LLM_STATE_DIR": str(state),
            "PARLEY_NATS_PORT": str(free_port()),
            "PARLEY_NATS_MONITOR_PORT": str(free_port()),
            "PARLEY_PG_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
        }
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "parley.cli", "up", "--role", "llm", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait(self, pattern: re.Pattern[str], after: int, timeout: float) -> tuple[int, float, str]:
        """(index, time, line) of the first line from index ``after`` on that matches."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(after, len(self.lines)):
                    if pattern.search(self.lines[i][1]):
                        return i, *self.lines[i]
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    tail = "\n".join(line for _, line in self.lines[-20:])
                    raise RuntimeError(f"no {pattern.pattern!r} within {timeout} s:\n{tail}")
                self._cond.wait(left)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def _start(data: Path, state: Path, label: str, crash: bool) -> None:
    up = _Up(data, state)
    try:
        i, at, line = up.wait(_READY, 0, 600)
        kind = "warm" if any("(warm start)" in text for _, text in up.lines[:i]) else "cold"
        print(
            f"{label:<34} {at - up.t0:6.1f} s from `parley up` to llm ready "
            f"({line.split(': ')[0]}; {kind} start; {_load()})",
            flush=True,
        )
        if not crash:
            return
        pid = int(up.wait(_STARTED, 0, 5)[2].split("pid ")[1].rstrip(")"))
        killed = time.monotonic()
        os.kill(pid, signal.SIGSEGV)
        _, back, line = up.wait(_READY, i + 1, 600)
        print(
            f"{'SIGSEGV of the llm process':<34} {back - killed:6.1f} s from the signal to "
            f"llm ready again ({_load()})",
            flush=True,
        )
    finally:
        up.stop()


def bench_startup() -> None:
    """Print the three figures (see the module docstring)."""
    root = Path(tempfile.mkdtemp(prefix="parley-bench-startup-"))
    root.chmod(0o755)  # the embedded Postgres runs as its own user
    try:
        state = root / "llm-state"
        _start(root / "data1", state, "first start (empty state store)", crash=False)
        _start(root / "data2", state, "second start (same store)", crash=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
