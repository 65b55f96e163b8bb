"""The session shell through its seam, in memory: no NATS, no Postgres.

The real servers' side of these contracts is tested in tests/test_failover.py,
tests/test_turn_shell.py and tests/chaos; here the shell's own logic: the order of what
it sends, taking a re-sent event once, acknowledging only what is stored, retrying a store
that is down, stopping when fenced off or when the lease is lost, and what a stop leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from actors.models.engines.deterministic import DeterministicVoiceDetector
from actors.session import CoreConfig, SessionCore
from actors.session import commands as cmd
from actors.session.actor import SessionActor, SessionDeps
from actors.session.memory import MemoryBus, MemoryLease, MemoryStore
from actors.session.phrases import default_phrases
from actors.session.snapshot import decode_shell_snapshot, decode_stored_state
from bus import audio
from bus import events as ev
from bus import jobs as jb
from tests.session.world import BANK, SID

GREETING_TTS = f"{SID}:1:tts:0"


@dataclass
class Shell:
    bus: MemoryBus
    store: MemoryStore
    lease: MemoryLease
    actor: SessionActor
    stopped: list[SessionActor] = field(default_factory=list)


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (bounded) for ``cond``; fail the test if it never holds."""
    async with asyncio.timeout(timeout):
        while not cond():  # noqa: ASYNC110 - the conditions have no event to wait on
            await asyncio.sleep(0.01)


def start_shell(
    bus: MemoryBus | None = None,
    store: MemoryStore | None = None,
    core: SessionCore | None = None,
    result_seq: int = 0,
    seen_in: list[str] | None = None,
) -> Shell:
    bus = bus or MemoryBus()
    store = store or MemoryStore()
    lease = MemoryLease(revision=3)
    core = core or SessionCore.new(SID, CoreConfig(), BANK, default_phrases)
    stopped: list[SessionActor] = []
    deps = SessionDeps(bus=bus, store=store, node_id="node-a", new_vad=DeterministicVoiceDetector)
    actor = SessionActor(deps, core, lease, result_seq, stopped.append, seen_in=seen_in or [])
    return Shell(bus, store, lease, actor, stopped)


@pytest.fixture
async def shell() -> AsyncIterator[Shell]:
    s = start_shell()
    await s.actor.start()
    yield s
    await s.actor.stop()


async def started(s: Shell) -> None:
    assert await s.bus.send(SID, ev.Attach()) == b"ok"
    assert await s.bus.send(SID, ev.Start(), in_id="start-1") == b"ok"
    await until(lambda: GREETING_TTS in s.bus.jobs)


async def play_greeting(s: Shell, chunks: int = 3) -> None:
    for i in range(chunks):
        await s.bus.put_result(
            SID, jb.TtsChunk(job_id=GREETING_TTS, index=i, sample_rate=16000, pcm=b"\x01\x00" * 800)
        )
    await s.bus.put_result(SID, jb.TtsDone(job_id=GREETING_TTS, chunks=chunks))


async def test_events_reach_out_in_order_and_audio_in_frames(shell: Shell) -> None:
    await started(shell)
    await play_greeting(shell)
    await until(lambda: len(shell.bus.audio) == 3)
    await until(lambda: "Speaking" in shell.bus.event_types(SID))
    seqs = [seq for _sid, seq, _e in shell.bus.events]
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate, in order
    headers = [audio.decode_header(frame) for _sid, frame in shell.bus.audio]
    assert [h.chunk for h in headers] == [0, 1, 2]
    assert {(h.version, h.kind, h.turn, h.sample_rate) for h in headers} == {
        (1, audio.KIND_SPEECH, 1, 16000)
    }


async def test_a_resent_event_is_taken_once(shell: Shell) -> None:
    await started(shell)
    # the edge timed out and sends the same start again: acknowledged, not taken again
    # (taken, the core would refuse it with an already_started error)
    assert await shell.bus.send(SID, ev.Start(), in_id="start-1") == b"ok"
    await asyncio.sleep(0.2)
    assert "Error" not in shell.bus.event_types(SID)
    # a new start (another id) is taken, and refused by the core
    assert await shell.bus.send(SID, ev.Start(), in_id="start-2") == b"ok"
    await until(lambda: "Error" in shell.bus.event_types(SID))


async def test_acknowledged_only_once_stored() -> None:
    s = start_shell()
    await s.actor.start()
    gate = s.store.gate = asyncio.Event()  # the store hangs from now on
    await s.bus.send(SID, ev.Attach())
    assert await s.bus.send(SID, ev.Start(), in_id="start-1") is None  # not stored: no ok
    assert await s.bus.send(SID, ev.Start(), in_id="start-1") is None  # nor when re-sent
    gate.set()
    assert await s.bus.send(SID, ev.Start(), in_id="start-1") == b"ok"
    assert "Error" not in s.bus.event_types(SID)  # taken once
    await s.actor.stop()


async def test_a_store_that_is_down_is_retried(shell: Shell) -> None:
    shell.store.unavailable = 3
    writes = len(shell.store.writes)
    await shell.bus.send(SID, ev.Attach())
    await shell.bus.send(SID, ev.Start(), in_id="start-1")  # ok only if stored in time
    await until(lambda: len(shell.store.writes) > writes)
    assert shell.store.unavailable == 0
    assert decode_stored_state(shell.store.rows[SID].blob).phase != "idle"
    # stored now: the edge's re-send is acknowledged, and not taken twice
    assert await shell.bus.send(SID, ev.Start(), in_id="start-1") == b"ok"
    assert "Error" not in shell.bus.event_types(SID)


async def test_writes_keep_their_order_and_a_refused_one_is_stored_cleaned(
    shell: Shell,
) -> None:
    await started(shell)
    await until(lambda: not shell.actor.writer.pending())
    shell.store.refuse_unclean = 1
    shell.actor.writer.put(cmd.PersistReport(report={"n": 1}))  # what the core would emit
    shell.actor.writer.put(cmd.Snapshot("after"))
    await asyncio.wait_for(shell.actor.writer.join(), 10.0)
    assert shell.store.reports[SID] == {"n": 1}
    assert shell.store.cleaned == [("report", SID)]
    assert shell.store.writes[-2:] == [("report", SID), ("snapshot", SID)]


async def test_fenced_off_by_a_newer_owner_it_stops_without_writing(shell: Shell) -> None:
    await started(shell)
    await until(lambda: not shell.store.writes or shell.store.rows[SID].fence == 3)
    # another node took the session over and wrote with a newer fence
    await shell.store.save_snapshot(
        SID,
        b"theirs",
        fence=4,
        seq=0,
        owner="node-b",
        status="active",
        language="en",
        role="general",
    )
    await play_greeting(shell)  # a turn plays: the core asks for a snapshot
    await asyncio.wait_for(shell.actor.stopped.wait(), 10.0)
    assert shell.actor.lease_lost
    assert not shell.lease.released  # the lease is not ours to release
    assert shell.store.rows[SID].blob == b"theirs"
    assert shell.stopped == [shell.actor]


async def test_lease_lost_stops_without_writing(shell: Shell) -> None:
    await started(shell)
    await until(lambda: not shell.actor.writer.pending())
    writes = len(shell.store.writes)
    await shell.lease.lose()
    await asyncio.wait_for(shell.actor.stopped.wait(), 10.0)
    assert len(shell.store.writes) == writes
    assert not shell.lease.released
    assert SID not in shell.bus.listeners


async def test_stop_writes_what_the_next_owner_needs_and_lets_go() -> None:
    s = start_shell()
    await s.actor.start()
    await started(s)
    await play_greeting(s, chunks=2)
    await until(lambda: len(s.bus.audio) == 2)
    await s.actor.stop()
    assert s.lease.released and not s.lease.held
    assert SID not in s.bus.listeners and s.bus.tails_open(SID) == 0
    shell_snap = decode_shell_snapshot(s.store.rows[SID].blob)
    assert shell_snap.result_seq == 3  # two chunks and the done
    assert shell_snap.seen_in == ["start-1"]
    assert s.store.rows[SID].seq == s.bus.events[-1][1]  # every event it claims is out
    with pytest.raises(LookupError):  # nobody listens any more
        await s.bus.send(SID, ev.Pong(id=1))


async def test_the_next_owner_replays_results_it_had_not_seen() -> None:
    a = start_shell()
    await a.actor.start()
    await started(a)
    await a.actor.stop()
    # a result arrives while nobody owns the session
    await play_greeting(a, chunks=1)
    snap = decode_shell_snapshot(a.store.rows[SID].blob)
    core = SessionCore.restore(snap.core, CoreConfig(), BANK, default_phrases, now=0.0)
    b = start_shell(
        bus=a.bus, store=a.store, core=core, result_seq=snap.result_seq, seen_in=snap.seen_in
    )
    await b.actor.start()
    await until(lambda: len(a.bus.audio) == 1)  # the new owner played it
    assert b.actor.result_seq == 2
    # and the start the edge re-sends to the new owner is not taken twice
    events = len(a.bus.events)
    assert await a.bus.send(SID, ev.Start(), in_id="start-1") == b"ok"
    await asyncio.sleep(0.2)
    assert "Error" not in a.bus.event_types(SID)[events:]
    await b.actor.stop()
