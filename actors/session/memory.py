"""The session shell's seam in memory: a bus, a store and a lease for tests.

Drive a :class:`~actors.session.actor.SessionActor` without NATS or Postgres, the way an
HTTP client is tested against a mock transport::

    bus, store = MemoryBus(), MemoryStore()
    lease = MemoryLease(revision=1)
    actor = SessionActor(SessionDeps(bus=bus, store=store, node_id="n1", new_vad=...),
                         core, lease, 0, on_stopped)
    await actor.start()
    assert await bus.send(sid, Start()) == b"ok"
    bus.jobs, bus.events, store.rows[sid] ...     # what the actor did

They keep the real servers' contracts that the shell relies on: OUT events and job
requests are deduplicated by id, results carry increasing stream sequences and a tail
replays them from any sequence, and a snapshot with an older fence than the stored one
raises :class:`~persistence.snapshots.StaleFence`. Faults are injected by hand
(:attr:`MemoryStore.unavailable`, :attr:`MemoryStore.refuse_unclean`,
:attr:`MemoryStore.gate`, :meth:`MemoryLease.lose`).
Everything is bounded only by the test that uses it.
"""

from __future__ import annotations

__all__ = ["MemoryBus", "MemoryLease", "MemoryMessage", "MemoryStore", "StoredRow"]

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.errors import StoreRefused, StoreUnavailable
from actors.session.seam import OnIn, OnLost, OnResult
from actors.session.state import TurnRecord
from bus import events, jobs, subjects
from bus.jobs import Job
from bus.subjects import JobKind
from persistence.snapshots import StaleFence


@dataclass
class MemoryMessage:
    """An ``.in`` message; :attr:`response` is what the actor answered (None: nothing)."""

    data: bytes
    headers: Mapping[str, str] | None = None
    reply: str = "inbox"
    response: bytes | None = None

    async def respond(self, data: bytes) -> None:
        self.response = data


class _Handle:
    def __init__(self, remove: Any) -> None:
        self._remove = remove

    async def close(self) -> None:
        self._remove()


class MemoryBus:
    """:class:`~actors.session.seam.SessionBus` in memory."""

    def __init__(self) -> None:
        self.listeners: dict[str, OnIn] = {}
        #: (sid, seq, event) in the order they reached the OUT stream (duplicates dropped)
        self.events: list[tuple[str, int, events.ServerEvent]] = []
        self.audio: list[tuple[str, bytes]] = []
        self.answers: dict[tuple[str, int], bytes] = {}
        """Answers kept for replay, by (session, turn)."""
        #: job id -> (kind, job), in the order first requested
        self.jobs: dict[str, tuple[JobKind, Job]] = {}
        #: every request, duplicates included
        self.requests: list[str] = []
        self.results: dict[str, list[bytes]] = {}
        self._tails: dict[str, list[tuple[int, OnResult]]] = {}
        self._out_ids: set[str] = set()
        #: the next this many event publishes fail (as a stream that cannot be reached)
        self.fail_events = 0

    # --- the seam ----------------------------------------------------------------------

    async def listen(self, sid: str, on_in: OnIn) -> _Handle:
        self.listeners[sid] = on_in
        return _Handle(lambda: self.listeners.pop(sid, None))

    async def tail_results(self, sid: str, from_seq: int, on_result: OnResult) -> _Handle:
        entry = (from_seq, on_result)
        self._tails.setdefault(sid, []).append(entry)
        for seq, data in enumerate(self.results.get(sid, []), start=1):
            if seq >= from_seq:
                await on_result(seq, data)
        return _Handle(lambda: self._tails.get(sid, []).remove(entry))

    async def request_job(self, sid: str, kind: JobKind, job: Job, deadline: float) -> bool:
        self.requests.append(job.job_id)
        if job.job_id in self.jobs:
            return True
        self.jobs[job.job_id] = (kind, job)
        return False

    async def publish_event(self, sid: str, seq: int, data: bytes, budget: float) -> None:
        if self.fail_events > 0:
            self.fail_events -= 1
            raise TimeoutError("OUT unreachable (injected)")
        msg_id = f"{sid}:{seq}"
        if msg_id not in self._out_ids:
            self._out_ids.add(msg_id)
            self.events.append((sid, seq, events.decode_server_event(data)))

    async def publish_audio(self, sid: str, frame: bytes) -> None:
        self.audio.append((sid, frame))

    async def keep_answer(self, sid: str, turn: int, wav: bytes) -> None:
        self.answers[(sid, turn)] = wav

    # --- the other side: the edge and the model actors -----------------------------------

    async def send(self, sid: str, event: events.ClientEvent, *, in_id: str = "") -> bytes | None:
        """Send a client event to ``sid`` as the edge does; return the actor's answer
        (``b"ok"`` or an encoded error), None if it did not answer; raises
        :class:`LookupError` when nobody listens (NATS: no responders)."""
        headers = {subjects.HDR_IN_ID: in_id} if in_id else None
        msg = MemoryMessage(events.encode(event), headers)
        await self._deliver(sid, msg)
        return msg.response

    async def send_audio(self, sid: str, pcm: bytes) -> None:
        await self._deliver(sid, MemoryMessage(pcm, {subjects.HDR_AUDIO: "1"}, reply=""))

    async def _deliver(self, sid: str, msg: MemoryMessage) -> None:
        on_in = self.listeners.get(sid)
        if on_in is None:
            raise LookupError(f"no responders for {sid}")
        await on_in(msg)

    async def put_result(self, sid: str, result: jobs.Result) -> int:
        """Append a result to ``sid``'s result stream; deliver it to open tails; return
        its stream sequence."""
        stream = self.results.setdefault(sid, [])
        data = jobs.encode(result)
        stream.append(data)
        seq = len(stream)
        for from_seq, on_result in list(self._tails.get(sid, [])):
            if seq >= from_seq:
                await on_result(seq, data)
        return seq

    def tails_open(self, sid: str) -> int:
        return len(self._tails.get(sid, []))

    def event_types(self, sid: str) -> list[str]:
        return [type(e).__name__ for s, _seq, e in self.events if s == sid]


@dataclass
class StoredRow:
    blob: bytes
    fence: int
    seq: int
    owner: str
    status: str
    language: str
    role: str


@dataclass
class MemoryStore:
    """:class:`~actors.session.seam.SessionStore` in memory, fenced like Postgres."""

    rows: dict[str, StoredRow] = field(default_factory=dict)
    turns: dict[tuple[str, int], TurnRecord] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: every write that landed, in order: ("snapshot" | "turn" | "report", sid)
    writes: list[tuple[str, str]] = field(default_factory=list)
    #: the next this many writes raise StoreUnavailable
    unavailable: int = 0
    #: the next this many turn or report writes not asked to clean raise StoreRefused
    refuse_unclean: int = 0
    #: the turn and report writes that were asked to clean their text, in order
    cleaned: list[tuple[str, str]] = field(default_factory=list)
    #: while set and not open, writes wait for it (a store that hangs)
    gate: asyncio.Event | None = None

    async def _enter(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.unavailable > 0:
            self.unavailable -= 1
            raise StoreUnavailable("store unavailable (injected)")

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
        await self._enter()
        row = self.rows.get(sid)
        if row is not None and row.fence > fence:
            raise StaleFence(sid)
        self.rows[sid] = StoredRow(blob, fence, seq, owner, status, language, role)
        self.writes.append(("snapshot", sid))

    def _refuse(self, what: str, sid: str, clean: bool) -> None:
        if clean:
            self.cleaned.append((what, sid))
        elif self.refuse_unclean > 0:
            self.refuse_unclean -= 1
            raise StoreRefused(f"{what} refused (injected)")

    async def save_turn(self, sid: str, record: TurnRecord, *, clean: bool = False) -> None:
        await self._enter()
        self._refuse("turn", sid, clean)
        self.turns[(sid, record.turn)] = record
        self.writes.append(("turn", sid))

    async def save_report(self, sid: str, report: dict[str, Any], *, clean: bool = False) -> None:
        await self._enter()
        self._refuse("report", sid, clean)
        self.reports[sid] = report
        self.writes.append(("report", sid))


class MemoryLease:
    """:class:`~actors.session.seam.SessionLease` in memory; :meth:`lose` plays a lease
    that could not be renewed."""

    def __init__(self, revision: int = 1) -> None:
        self._revision = revision
        self.on_lost: OnLost | None = None
        self.held = False
        self.released = False

    @property
    def revision(self) -> int:
        return self._revision

    def hold(self, on_lost: OnLost) -> None:
        self.on_lost, self.held = on_lost, True

    def drop(self) -> None:
        self.held = False

    async def release(self) -> None:
        self.released = True

    async def lose(self) -> None:
        on_lost, self.on_lost = self.on_lost, None
        self.held = False
        if on_lost is not None:
            await on_lost()
