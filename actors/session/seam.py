"""The session shell's seam: the narrow I/O it needs, as protocols.

:class:`~actors.session.actor.SessionActor` talks to the world only through these three
objects, so it runs the same against the real servers and in memory (the way an HTTP
client runs against a mock transport):

- :class:`SessionBus`: the session's subjects (``.in``, ``.out``, ``.audio``, its results
  in ``RESULTS``, jobs to ``JOBS``). Real: :class:`~actors.session.live.NatsSessionBus`;
  in memory: :class:`~actors.session.memory.MemoryBus`.
- :class:`SessionStore`: its snapshot, turns and report. Real:
  :class:`~actors.session.live.PostgresSessionStore`; in memory:
  :class:`~actors.session.memory.MemoryStore`.
- :class:`SessionLease`: its ownership (the ``session_owners`` key, renewed by the node's
  lease keeper). Real: :class:`~actors.session.live.KeptLease`; in memory:
  :class:`~actors.session.memory.MemoryLease`.

What the store may raise (:mod:`actors.errors`), and what the shell does about it:
``StoreUnavailable`` (the write did not happen for a reason that passes: retried while the
actor runs), ``StoreRefused`` (the server refused the write's content: retried once
cleaned), ``persistence.errors.StaleFence`` (a newer owner wrote: stop without writing).
"""

from __future__ import annotations

__all__ = [
    "Closable",
    "InMessage",
    "OnIn",
    "OnLost",
    "OnResult",
    "SessionBus",
    "SessionLease",
    "SessionStore",
    "StoreError",
    "StoreRefused",
    "StoreUnavailable",
]

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from actors.errors import StoreError, StoreRefused, StoreUnavailable
from actors.session.state import TurnRecord
from bus.jobs import Job
from bus.subjects import JobKind


class InMessage(Protocol):
    """One message on the session's ``.in`` subject (a ``nats.aio.msg.Msg`` is one)."""

    @property
    def data(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, str] | None: ...

    @property
    def reply(self) -> str: ...

    async def respond(self, data: bytes) -> None: ...


class Closable(Protocol):
    async def close(self) -> None: ...


OnIn = Callable[[InMessage], Awaitable[None]]
#: a job result: its sequence in the result stream (0 when unknown) and its bytes
OnResult = Callable[[int, bytes], Awaitable[None]]
OnLost = Callable[[], Awaitable[None]]


class SessionBus(Protocol):
    """The session's subjects. Every method has a deadline of its own."""

    async def listen(self, sid: str, on_in: OnIn) -> Closable:
        """Deliver the session's client events and audio (``.in``) until closed."""
        ...

    async def tail_results(self, sid: str, from_seq: int, on_result: OnResult) -> Closable:
        """Deliver the session's job results from stream sequence ``from_seq`` (1 = the
        first), in order, until closed. Raises when the tail cannot be opened."""
        ...

    async def request_job(self, sid: str, kind: JobKind, job: Job, deadline: float) -> bool:
        """Queue ``job`` (deduplicated by ``job.job_id``), its result to go to ``sid``'s
        result stream; ``deadline`` in epoch seconds. True if it was queued already."""
        ...

    async def publish_event(self, sid: str, seq: int, data: bytes, budget: float) -> None:
        """Put one client event in the OUT stream (deduplicated by ``sid:seq``), retrying
        for at most ``budget`` seconds; raises when it could not."""
        ...

    async def publish_audio(self, sid: str, frame: bytes) -> None:
        """Send one audio frame (:mod:`bus.audio`) to the client; best effort."""
        ...

    async def keep_answer(self, sid: str, turn: int, wav: bytes) -> None:
        """Keep a spoken answer's audio for replay (:mod:`actors.session.replay`); best
        effort with a deadline: an answer that cannot be kept is logged and skipped."""
        ...


class SessionStore(Protocol):
    """Where a session's state, turns and report are kept. Raises :class:`StoreError`,
    or ``persistence.snapshots.StaleFence`` from :meth:`save_snapshot`."""

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
        """Write the snapshot unless a newer fence wrote since (then ``StaleFence``)."""
        ...

    async def save_turn(self, sid: str, record: TurnRecord, *, clean: bool = False) -> None:
        """Upsert one turn; ``clean`` strips what the store cannot hold from its text."""
        ...

    async def save_report(self, sid: str, report: dict[str, Any], *, clean: bool = False) -> None:
        """Store the final report (and mark the session finished)."""
        ...


class SessionLease(Protocol):
    """The session's ownership. ``revision`` is the fencing token of every snapshot."""

    @property
    def revision(self) -> int: ...

    def hold(self, on_lost: OnLost) -> None:
        """Keep it renewed; await ``on_lost`` (once) if it cannot be."""
        ...

    def drop(self) -> None:
        """Stop renewing it (before :meth:`release`, or once it is lost)."""
        ...

    async def release(self) -> None:
        """Give it up so another node can take the session at once."""
        ...
