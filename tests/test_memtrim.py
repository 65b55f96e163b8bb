"""Memory housekeeping: a full collection and malloc_trim every period, stops cleanly,
off when its period is 0."""

from __future__ import annotations

import asyncio
import gc
import weakref

from parley.memtrim import HeapTrimmer


class _Box:
    """Weak-referenceable, and part of a reference cycle."""

    def __init__(self, inner: list[object]) -> None:
        self.inner = inner
        inner.append(self)


async def test_trims_periodically_and_stops() -> None:
    trimmer = HeapTrimmer(period=0.05)
    trimmer.start()
    gc.disable()  # only the housekeeper collects here
    try:
        cycle: list[object] = []
        cycle.append(cycle)
        ref = weakref.ref(_Box(cycle))
        del cycle
        await asyncio.sleep(0.4)  # eight periods
    finally:
        gc.enable()
        await trimmer.stop()
    assert trimmer.runs >= 2
    assert ref() is None  # the cycle was collected by the housekeeper
    runs = trimmer.runs
    await asyncio.sleep(0.2)
    assert trimmer.runs == runs


async def test_period_zero_turns_it_off() -> None:
    trimmer = HeapTrimmer(0)
    trimmer.start()
    await asyncio.sleep(0.05)
    assert trimmer.runs == 0
    await trimmer.stop()
