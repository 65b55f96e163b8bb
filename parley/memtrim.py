"""Memory housekeeping for a long-running node: timed garbage collections, then freed
heap memory handed back to the operating system (glibc only).

``parley/gctune.py`` makes young collections rare (the heartbeat's tail latency), which
also makes full collections rare: reference cycles that finished work leaves behind
(asyncio tasks and their tracebacks, nats-py's per-read object-store subscriptions, retry
state) then pile up for minutes, and the heap they were allocated from stays large and
fragmented. Measured with ``parley bench load --rotate 50`` (docs/scaling.md): RSS grew
about 5 MiB a minute with the tuned thresholds alone, and stayed flat with CPython's
defaults. So every ``PARLEY_MALLOC_TRIM_S`` seconds the loop runs a collection (its
pause is logged when it exceeds 20 ms), then ``malloc_trim(0)`` in a worker thread
returns the free pages of every glibc arena. A full collection's pause grows with the
garbage (at about 150 interviews a minute, once a minute cost 90-140 ms) and with the
live objects (at 1000 held sessions 150-400 ms; one every 15 s took the heartbeat p99 to
440 ms): so the young generations are collected every round and a full collection runs
only once RSS has grown 4 MiB since the last one (garbage piling up), or every 10 min.
"""

from __future__ import annotations

__all__ = ["HeapTrimmer"]

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import time
from collections.abc import Callable

from bus.tasks import cancel_and_wait

log = logging.getLogger(__name__)

PERIOD_S = 15.0
#: a full collection runs once RSS grew this much since the last one ...
GROWTH_MIB = 4.0
#: ... or this long after it
MAX_FULL_S = 600.0


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1048576
    except (OSError, ValueError, IndexError):
        return 0.0


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


class HeapTrimmer:
    """``start()`` once the node is up (after :func:`parley.gctune.tune_gc`), ``await
    stop()`` when it stops. ``period`` in seconds (``PARLEY_MALLOC_TRIM_S``; 0 turns it
    off)."""

    def __init__(self, period: float = PERIOD_S) -> None:
        self.period = float(period)
        self._trim = _malloc_trim()
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def start(self) -> None:
        if self.period <= 0:
            return
        self._task = asyncio.create_task(self._run(), name="heap-trim")

    async def _run(self) -> None:
        trim = self._trim
        loop = asyncio.get_running_loop()
        last_full = loop.time()
        baseline = _rss_mib()
        while True:
            await asyncio.sleep(self.period)
            # A full collection walks every live object (at a thousand held sessions a
            # pause of a few hundred ms), so it runs only when the heap has grown by
            # GROWTH_MIB since the last one (garbage piling up), or after MAX_FULL_S.
            rss = _rss_mib()
            full = rss - baseline >= GROWTH_MIB or loop.time() - last_full >= MAX_FULL_S
            t0 = time.perf_counter()
            found = gc.collect(2 if full else 1)
            pause_ms = (time.perf_counter() - t0) * 1000
            if pause_ms > 20:
                log.info(
                    "gc: %s collection %.0f ms (%d unreachable objects)",
                    "full" if full else "young",
                    pause_ms,
                    found,
                )
            if trim is not None:
                try:
                    await asyncio.to_thread(trim, 0)
                except Exception as exc:  # never worth stopping the node for
                    log.debug("malloc_trim failed: %r", exc)
            if full:
                last_full = loop.time()
                baseline = _rss_mib()
            self.runs += 1

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
