"""Ending tasks for sure, for every layer above the bus (actors, edge, workers)."""

from __future__ import annotations

__all__ = ["cancel_and_wait"]

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, again_after: float = 0.5) -> None:
    """Cancel ``tasks`` and return once every one has ended, cancelling again while any
    still runs: on Python 3.11 ``asyncio.wait_for`` swallows a cancellation that lands just
    as the awaited call completes (CPython gh-86296), and the task carries on as if never
    cancelled (a lease loop would renew forever). Exceptions are retrieved, not raised."""
    tasks = list(tasks)
    pending = {t for t in tasks if not t.done()}
    while pending:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=again_after)
    for t in tasks:
        if not t.cancelled():
            t.exception()  # mark retrieved (the caller is ending them, not judging them)
