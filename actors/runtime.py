"""Actor runtime pieces shared by every actor: the session lease on the NATS KV bucket.

A lease is a key in the ``session_owners`` bucket whose TTL runs on the NATS server's
clock, so clock drift between nodes cannot make two owners. :meth:`Lease.claim` uses
``create`` (fails while another node holds it); :meth:`Lease.renew` uses ``update`` with
the last revision (fails when anyone else wrote since). The revision is the fencing token
for snapshot writes in Postgres.
"""

from __future__ import annotations

__all__ = ["Lease", "LeaseHeld", "LeaseLost"]

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)


class LeaseHeld(Exception):
    """Another node holds the lease."""


class LeaseLost(Exception):
    """The lease could not be renewed: stop acting at once."""


class Lease:
    """The lease on ``key``; call :meth:`claim`, then :meth:`run_renewal` in a task."""

    def __init__(self, kv: KeyValue, key: str, owner: str, ttl: float) -> None:
        self.kv = kv
        self.key = key
        self.owner = owner
        self.ttl = ttl
        self.revision = 0

    async def claim(self, timeout: float = 2.0) -> int:
        """Take the lease; return its revision (the fencing token). Raises LeaseHeld."""
        try:
            self.revision = await asyncio.wait_for(
                self.kv.create(self.key, self.owner.encode()), timeout
            )
        except KeyWrongLastSequenceError:
            raise LeaseHeld(self.key) from None
        return self.revision

    async def renew(self, timeout: float) -> int:
        try:
            self.revision = await asyncio.wait_for(
                self.kv.update(self.key, self.owner.encode(), last=self.revision), timeout
            )
        except KeyWrongLastSequenceError:
            # An earlier renewal that timed out here may have landed on the server (a busy
            # process, a slow link): the key then still names us, one revision on. Only
            # create can take a key over, so that revision is ours and no one else's.
            try:
                entry = await asyncio.wait_for(self.kv.get(self.key), timeout)
            except (KeyNotFoundError, KeyDeletedError):
                raise LeaseLost(self.key) from None
            if (entry.value != self.owner.encode() or entry.revision is None
                    or entry.revision <= self.revision):
                raise LeaseLost(self.key) from None
            log.info("lease %s: a renewal that timed out had landed (revision %d)",
                     self.key, entry.revision)
            self.revision = entry.revision
        return self.revision

    async def run_renewal(self, on_lost: Callable[[], Awaitable[None]]) -> None:
        """Renew every ttl/3. If renewal fails for longer than the TTL, or another owner
        wrote the key, call ``on_lost`` and return."""
        period = self.ttl / 3
        loop = asyncio.get_running_loop()
        last_ok = loop.time()
        while True:
            await asyncio.sleep(period)
            try:
                await self.renew(timeout=period)
                last_ok = loop.time()
            except LeaseLost:
                log.warning("lease %s taken over by another node", self.key)
                break
            except Exception as exc:
                if loop.time() - last_ok >= self.ttl:
                    log.warning("lease %s expired while unreachable: %r", self.key, exc)
                    break
                log.debug("lease %s renewal failed, retrying: %r", self.key, exc)
        await on_lost()

    async def release(self) -> None:
        """Give the lease up so another node can claim it at once (on clean deactivation)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.kv.delete(self.key, last=self.revision), 2.0)
