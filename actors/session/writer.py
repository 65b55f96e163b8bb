"""The session's ordered writes: turns, reports and snapshots, with retries and fencing.

One per actor. :meth:`Writer.put` never blocks (bounded: a write that does not fit is
dropped and logged); a ``Snapshot`` while one is still queued is dropped, since the
queued one will carry the newer state. One task runs :meth:`Writer.run`, which writes in
order through ``write(command, clean)``:

- :class:`~actors.errors.StoreUnavailable` (the store restarting, a connection cut): the
  same write is retried for as long as the actor runs. Giving up would let a later
  snapshot commit a turn that was never stored. Only cancelling :meth:`run` (the actor's
  bounded stop) ends a write still retrying; the next owner then resumes from the last
  snapshot that was stored.
- :class:`~actors.errors.StoreRefused` (the store refused the content, text a model
  produced say): written once more with ``clean=True``.
- :class:`~persistence.errors.StaleFence` (a newer owner wrote): ``on_fenced`` is called;
  the actor must stop without writing.
"""

from __future__ import annotations

__all__ = ["PERSIST_QUEUE", "Persist", "Writer"]

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_exponential_jitter,
)

from actors.errors import StoreRefused, StoreUnavailable
from actors.session import commands as cmd
from persistence.errors import StaleFence

log = logging.getLogger(__name__)

PERSIST_QUEUE = 256

Persist = cmd.Snapshot | cmd.PersistTurn | cmd.PersistReport
Write = Callable[[Persist, bool], Awaitable[None]]


class Writer:
    def __init__(
        self, sid: str, write: Write, on_fenced: Callable[[], None], maxsize: int = PERSIST_QUEUE
    ) -> None:
        self.sid = sid
        self._write = write
        self._on_fenced = on_fenced
        self._queue: asyncio.Queue[Persist] = asyncio.Queue(maxsize)
        self._snapshots_queued = 0  # Snapshot commands queued, not yet taken

    def put(self, c: Persist) -> None:
        if isinstance(c, cmd.Snapshot) and self._snapshots_queued:
            return  # the queued one will hold this state
        if self._queue.full():
            log.error(
                "session %s: persistence backlog full, dropping %s", self.sid, type(c).__name__
            )
            return
        self._queue.put_nowait(c)
        if isinstance(c, cmd.Snapshot):
            self._snapshots_queued += 1

    def pending(self) -> int:
        """Writes queued and not yet taken."""
        return self._queue.qsize()

    async def join(self) -> None:
        """Until every write put so far is done (stored, or given up on)."""
        await self._queue.join()

    async def run(self) -> None:
        """Write, in order, until cancelled."""
        while True:
            c = await self._queue.get()
            if isinstance(c, cmd.Snapshot):
                self._snapshots_queued -= 1
            try:
                await self._retried(c)
            except StaleFence:
                log.warning("session %s: fenced off by a newer owner", self.sid)
                self._on_fenced()
            except StoreRefused as exc:
                log.warning(
                    "session %s: the store refused %s (%s); storing it cleaned",
                    self.sid,
                    type(c).__name__,
                    exc,
                )
                try:
                    await self._retried(c, clean=True)
                except Exception:
                    log.exception("session %s: could not persist %s", self.sid, type(c).__name__)
            except Exception:
                log.exception("session %s: could not persist %s", self.sid, type(c).__name__)
            finally:
                self._queue.task_done()

    async def _retried(self, c: Persist, *, clean: bool = False) -> None:
        try:  # the common case, without building a retry loop (its objects are cyclic)
            await self._write(c, clean)
            return
        except StoreUnavailable as exc:
            log.warning("session %s: store write failed (%s), retrying", self.sid, exc)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(StoreUnavailable),
            stop=stop_never,
            wait=wait_exponential_jitter(multiplier=0.1, max=2.0),
            before_sleep=self._retrying,
            reraise=True,
        ):
            with attempt:
                await self._write(c, clean)

    def _retrying(self, state: RetryCallState) -> None:
        if state.attempt_number == 10 or state.attempt_number % 60 == 0:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "session %s: store write failed (%r), retrying (attempt %d, %.0f s)",
                self.sid,
                exc,
                state.attempt_number,
                state.seconds_since_start or 0.0,
            )
