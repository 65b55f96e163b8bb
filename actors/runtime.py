"""Actor runtime pieces shared by every actor: the session lease on the NATS KV bucket.

A lease is a key in the ``session_owners`` bucket whose TTL runs on the NATS server's
clock, so clock drift between nodes cannot make two owners. :meth:`Lease.claim` uses
``create`` (fails while another node holds it); :meth:`Lease.renew` uses ``update`` with
the last revision (fails when anyone else wrote since). The revision is the fencing token
for snapshot writes in Postgres.
"""

from __future__ import annotations

__all__ = ["Lease", "LeaseHeld", "LeaseKeeper", "LeaseLost"]

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import Header
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from actors.errors import LeaseHeld, LeaseLost
from bus import subjects
from bus.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class Lease:
    """The lease on ``key``; call :meth:`claim`, then keep it with a :class:`LeaseKeeper`."""

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
            if (
                entry.value != self.owner.encode()
                or entry.revision is None
                or entry.revision <= self.revision
            ):
                raise LeaseLost(self.key) from None
            log.info(
                "lease %s: a renewal that timed out had landed (revision %d)",
                self.key,
                entry.revision,
            )
            self.revision = entry.revision
        return self.revision

    async def release(self) -> None:
        """Give the lease up so another node can claim it at once (on clean deactivation)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.kv.delete(self.key, last=self.revision), 2.0)


OnLost = Callable[[], Awaitable[None]]
_WRONG_LAST_SEQUENCE = (10071, 10164)


class _PubAck(msgspec.Struct):
    seq: int = 0
    error: dict[str, Any] | None = None


_ack_decoder = msgspec.json.Decoder(_PubAck)


class _Held:
    __slots__ = ("busy", "due", "last_ok", "lease", "on_lost")

    def __init__(self, lease: Lease, on_lost: OnLost, now: float, period: float) -> None:
        self.lease = lease
        self.on_lost = on_lost
        self.last_ok = now
        self.due = now + period
        self.busy = False  # a careful (request/reply) renewal is running


class LeaseKeeper:
    """Renews every lease a node holds, from one task, without a task or a timer per
    lease (a node holds a thousand sessions; a sleeping renewal task and two
    ``wait_for`` per renewal each were most of its event loop).

    Each lease is renewed every ttl/3, spread over time in the order the leases were
    taken (a queue ordered by due time): an optimistic ``update`` published with a
    reply inbox shared by all leases, the acks matched by token. An ack with a new
    revision renews; "wrong last sequence" (a renewal that timed out earlier may have
    landed) is settled by :meth:`Lease.renew`'s careful path; a lease whose renewals all
    failed for ``ttl`` is lost. On loss the keeper forgets the lease and awaits
    ``on_lost`` in a task of its own.
    """

    def __init__(self, nc: Client, ttl: float, *, bucket: str = subjects.KV_OWNERS) -> None:
        self.nc = nc
        self.ttl = ttl
        self.period = ttl / 3
        self._subject = f"$KV.{bucket}."
        self._held: dict[Lease, _Held] = {}
        self._queue: deque[_Held] = deque()
        self._acks: dict[str, tuple[_Held, int]] = {}
        self._tokens = itertools.count()
        self._inbox = ""
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.renewals = 0
        self.lost = 0

    def __len__(self) -> int:
        return len(self._held)

    async def start(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)
        self._task = asyncio.create_task(self._run(), name="lease-keeper")

    def hold(self, lease: Lease, on_lost: OnLost) -> None:
        """Keep ``lease`` (claimed just now) renewed until :meth:`drop` or loss."""
        held = _Held(lease, on_lost, asyncio.get_running_loop().time(), self.period)
        self._held[lease] = held
        self._queue.append(held)

    def drop(self, lease: Lease) -> None:
        """Stop renewing ``lease`` (before releasing it)."""
        self._held.pop(lease, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        step = min(0.1, self.period / 4)
        while True:
            await asyncio.sleep(step)
            now = loop.time()
            queue = self._queue
            while queue and queue[0].due <= now:
                held = queue.popleft()
                if self._held.get(held.lease) is not held:
                    continue  # dropped
                held.due = now + self.period
                queue.append(held)
                if now - held.last_ok >= self.ttl:
                    log.warning("lease %s expired while unreachable", held.lease.key)
                    self._lose(held)
                elif not held.busy:
                    await self._publish(held)
            if len(self._acks) > 4 * len(self._held) + 64:  # acks that never came
                self._acks.clear()

    async def _publish(self, held: _Held) -> None:
        lease = held.lease
        token = str(next(self._tokens))
        self._acks[token] = (held, lease.revision)
        try:
            await self.nc.publish(
                self._subject + lease.key,
                lease.owner.encode(),
                reply=f"{self._inbox}.{token}",
                headers={Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(lease.revision)},
            )
        except Exception as exc:  # disconnected: the next round tries again
            self._acks.pop(token, None)
            log.debug("lease %s renewal not sent: %r", lease.key, exc)

    async def _on_ack(self, msg: Msg) -> None:
        token = msg.subject.rsplit(".", 1)[-1]
        entry = self._acks.pop(token, None)
        if entry is None:
            return
        held, revision = entry
        if self._held.get(held.lease) is not held or held.lease.revision != revision:
            return  # dropped, or renewed since
        try:
            ack = _ack_decoder.decode(msg.data) if msg.data else None
        except msgspec.DecodeError:
            ack = None
        if ack is not None and ack.error is None and ack.seq > 0:
            held.lease.revision = ack.seq
            held.last_ok = asyncio.get_running_loop().time()
            self.renewals += 1
        elif ack is not None and ack.error and ack.error.get("err_code") in _WRONG_LAST_SEQUENCE:
            held.busy = True
            self._spawn(self._careful(held))
        # anything else (no responders, stream unavailable): the next round retries

    async def _careful(self, held: _Held) -> None:
        try:
            await held.lease.renew(timeout=self.period)
            held.last_ok = asyncio.get_running_loop().time()
        except LeaseLost:
            log.warning("lease %s taken over by another node", held.lease.key)
            if self._held.get(held.lease) is held:
                self._lose(held)
        except Exception as exc:
            log.debug("lease %s careful renewal failed: %r", held.lease.key, exc)
        finally:
            held.busy = False

    def _lose(self, held: _Held) -> None:
        self._held.pop(held.lease, None)
        self.lost += 1
        self._spawn(held.on_lost())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop renewing (held leases then expire unless released)."""
        tasks = [*self._tasks, *([self._task] if self._task else [])]
        await cancel_and_wait(tasks)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._sub.unsubscribe(), 2.0)
