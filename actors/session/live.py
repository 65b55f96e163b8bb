"""The session shell's seam on the real servers: NATS/JetStream and Postgres.

:class:`NatsSessionBus`, :class:`PostgresSessionStore` and :class:`KeptLease` implement
the protocols of :mod:`actors.session.seam`; the session node builds one bus and one
store per node and one :class:`KeptLease` per actor.
"""

from __future__ import annotations

__all__ = ["KeptLease", "NatsSessionBus", "PostgresSessionStore"]

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from actors.runtime import Lease, LeaseKeeper
from actors.session.seam import (
    Closable,
    OnIn,
    OnLost,
    OnResult,
    StoreRefused,
    StoreUnavailable,
)
from actors.session.state import TurnRecord
from bus import subjects
from bus.jobs import Job
from bus.replay import store_answer
from bus.requests import publish_retrying, request_job
from bus.subjects import JobKind
from bus.tail import Tails
from persistence import reports, snapshots, transcripts
from persistence.text import scrub

T = TypeVar("T")

#: what a Postgres write raises when it did not happen for a reason that passes
_DB_TRANSIENT = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.QueryCanceledError,
)


class _Subscription:
    def __init__(self, sub: Any) -> None:
        self._sub = sub

    async def close(self) -> None:
        await asyncio.wait_for(self._sub.unsubscribe(), 2.0)


class NatsSessionBus:
    """:class:`~actors.session.seam.SessionBus` on NATS: ``.in`` is a core subscription,
    results are tailed from ``RESULTS`` through the node's :class:`~bus.tail.Tails`, events
    go to the ``OUT`` stream, audio over core NATS, jobs to ``JOBS``."""

    def __init__(
        self, nc: Client, js: JetStreamContext, tails: Tails, replay: ObjectStore | None = None
    ) -> None:
        self.nc = nc
        self.js = js
        self.tails = tails
        self.replay = replay
        """The answer-audio object store (None: answers are not kept for replay)."""

    async def listen(self, sid: str, on_in: OnIn) -> Closable:
        return _Subscription(await self.nc.subscribe(subjects.session_in(sid), cb=on_in))

    async def tail_results(self, sid: str, from_seq: int, on_result: OnResult) -> Closable:
        async def deliver(msg: Msg) -> None:
            seq = msg.metadata.sequence.stream if msg.metadata is not None else 0
            await on_result(seq, msg.data)

        return await self.tails.open(
            subjects.STREAM_RESULTS, subjects.session_result(sid), from_seq, deliver
        )

    async def request_job(self, sid: str, kind: JobKind, job: Job, deadline: float) -> bool:
        return await request_job(
            self.js, kind, job, reply_to=subjects.session_result(sid), deadline=deadline
        )

    async def publish_event(self, sid: str, seq: int, data: bytes, budget: float) -> None:
        await publish_retrying(
            self.js,
            subjects.session_out(sid),
            data,
            {subjects.HDR_MSG_ID: f"{sid}:{seq}"},
            budget=budget,
        )

    async def publish_audio(self, sid: str, frame: bytes) -> None:
        await self.nc.publish(subjects.session_audio(sid), frame)

    async def keep_answer(self, sid: str, turn: int, wav: bytes) -> None:
        if self.replay is not None:
            await store_answer(self.replay, sid, turn, wav)


async def _guarded(write: Callable[[], Awaitable[T]]) -> T:
    """Run one write; name its failure in the seam's terms."""
    try:
        return await write()
    except snapshots.StaleFence:
        raise
    except _DB_TRANSIENT as exc:
        raise StoreUnavailable(repr(exc)) from exc
    except asyncpg.PostgresError as exc:
        raise StoreRefused(f"{exc.sqlstate}: {exc}") from exc


class PostgresSessionStore:
    """:class:`~actors.session.seam.SessionStore` on the Postgres pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def save_snapshot(
        self,
        sid: str,
        blob: bytes,
        *,
        fence: int,
        seq: int,
        owner: str,
        status: str,
        language: str,
        role: str,
    ) -> None:
        await _guarded(
            lambda: snapshots.save_snapshot(
                self.pool,
                sid,
                blob,
                fence=fence,
                seq=seq,
                owner=owner,
                status=status,
                language=language,
                role=role,
            )
        )

    async def save_turn(self, sid: str, r: TurnRecord, *, clean: bool = False) -> None:
        fix = scrub if clean else _same
        assessment = None if r.assessment is None else fix(msgspec.to_builtins(r.assessment))
        await _guarded(
            lambda: transcripts.save_turn(
                self.pool,
                sid,
                r.turn,
                question=fix(r.question),
                answer=fix(r.answer),
                source=fix(r.source),
                assessment=assessment,
                latency=fix(dict(r.latency)),
            )
        )

    async def save_report(self, sid: str, report: dict[str, Any], *, clean: bool = False) -> None:
        fixed = scrub(report) if clean else report
        await _guarded(lambda: reports.save_report(self.pool, sid, fixed))


def _same(value: T) -> T:
    return value


class KeptLease:
    """:class:`~actors.session.seam.SessionLease`: a claimed :class:`Lease` renewed by the
    node's :class:`LeaseKeeper`."""

    def __init__(self, lease: Lease, keeper: LeaseKeeper) -> None:
        self.lease = lease
        self.keeper = keeper

    @property
    def revision(self) -> int:
        return self.lease.revision

    def hold(self, on_lost: OnLost) -> None:
        self.keeper.hold(self.lease, on_lost)

    def drop(self) -> None:
        self.keeper.drop(self.lease)

    async def release(self) -> None:
        await self.lease.release()
