"""cancel_and_wait ends a task even when Python 3.11's wait_for swallowed its cancellation."""

from __future__ import annotations

import asyncio
import sys

from bus.tasks import cancel_and_wait


async def _loop_like_a_lease(first: asyncio.Future[int], laps: list[int]) -> None:
    await asyncio.wait_for(first, 10)
    while True:  # a renewal loop: it only ends by cancellation
        laps.append(1)
        await asyncio.sleep(0.01)


async def test_cancel_and_wait_ends_a_task_whose_cancel_was_swallowed() -> None:
    loop = asyncio.get_running_loop()
    first: asyncio.Future[int] = loop.create_future()
    laps: list[int] = []
    task = asyncio.create_task(_loop_like_a_lease(first, laps))
    await asyncio.sleep(0)  # the task now waits inside wait_for
    first.set_result(1)  # the awaited call completes ...
    task.cancel()  # ... and the cancellation lands in the same loop iteration
    await asyncio.sleep(0.05)
    if sys.version_info < (3, 12):
        assert not task.done() and laps, "3.11 wait_for swallowed the cancellation"
    await asyncio.wait_for(cancel_and_wait([task]), 5)
    assert task.cancelled()
