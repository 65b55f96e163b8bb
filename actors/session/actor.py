"""The session actor's async shell: the I/O around the sans-I/O :mod:`actors.session.core`.

One :class:`SessionActor` per active interview, owned by the node that holds the
session's lease. It feeds the core with client events (``.in``), job results (the
session's result stream), voice probabilities (VAD run off the event loop), end-of-turn
verdicts and ticks, and executes what the core returns. It reaches the world only through
the seam (:mod:`actors.session.seam`): ``deps.bus``, ``deps.store`` and its lease, real
ones from :mod:`actors.session.live` on a node, in-memory ones from
:mod:`actors.session.memory` in tests.

- ``Emit`` -> the OUT stream (dedup id ``<sid>:<seq>``), in order;
- ``EmitAudio`` -> the client's audio (a :mod:`bus.audio` frame), in order with the events;
- ``RequestJob`` -> the job queue with the deterministic job id;
- ``Snapshot``/``PersistTurn``/``PersistReport`` -> the store, in order, the snapshot
  fenced by the lease revision (a ``Snapshot`` while one is still queued is dropped: the
  queued one will carry the newer state);
- ``Deactivate`` -> final snapshot, release the lease, leave memory.
- ``CheckTurn`` -> the node's end-of-turn model on the last seconds of the audio VAD saw
  (kept here, bounded), in the VAD executor; its probability goes back as ``TurnVerdict``.
  Without a model, or when it fails, nothing is fed back and the silence rules decide.

Snapshots (:mod:`actors.session.snapshot`) carry the core state plus the last
result-stream sequence consumed, so a re-activated actor replays the results it had not
yet seen, and the ids of the last client events taken (``Parley-In-Id``), so an event the
edge re-sends after a crash is not taken twice. A snapshot is written only once every
event it has emitted is in the OUT stream, so the next owner's seq continues without a
gap. Start, answer and end are acknowledged only once persisted. Results of jobs the
restored core has not re-requested yet are parked (bounded) and fed when it asks again:
the duplicate request is dropped by the job queue, and the parked result completes it.
"""

from __future__ import annotations

__all__ = ["SessionActor", "SessionDeps"]

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, assert_never

from actors.models.engines import EndOfTurnModel, VoiceDetector
from actors.session import commands as cmd
from actors.session import inputs
from actors.session.core import SessionCore
from actors.session.outbox import OUT_PUBLISH_S, Outbox
from actors.session.replay import AnswerTape
from actors.session.seam import Closable, InMessage, SessionBus, SessionLease, SessionStore
from actors.session.snapshot import ShellSnapshot, encode_shell_snapshot
from actors.session.state import TurnRecord
from actors.session.writer import Persist, Writer
from bus import events, jobs, subjects
from bus.errors import BadMessage
from bus.tasks import cancel_and_wait

log = logging.getLogger(__name__)

TICK_S = 0.1
MAX_PARKED_JOBS = 64
DURABLE_ACK_S = 2.0
OUT_FLUSH_S = OUT_PUBLISH_S + 1.0
MAX_SEEN_IN = 64
#: audio kept for the end-of-turn model (it reads the last 8 s), PCM16 16 kHz bytes
HEARD_BYTES = 9 * 32000


@dataclass
class SessionDeps:
    """What every actor on a node shares: the seam (:mod:`actors.session.seam`) and the
    node's voice models."""

    bus: SessionBus
    store: SessionStore
    node_id: str
    new_vad: Callable[[], VoiceDetector]
    #: where VAD and the end-of-turn model run (None: the loop's default executor)
    vad_executor: Executor | None = None
    #: the node's end-of-turn model (shared, thread-safe), run in ``vad_executor``
    end_of_turn: EndOfTurnModel | None = None
    lateness: list[float] = field(default_factory=list)

    def record_lateness(self, seconds: float) -> None:
        self.lateness.append(seconds)
        if len(self.lateness) > 4096:
            del self.lateness[:2048]


class SessionActor:
    """One live session. Create with :meth:`start`; it stops itself on ``Deactivate``, on
    lease loss, or when :meth:`stop` is called (drain)."""

    def __init__(
        self,
        deps: SessionDeps,
        core: SessionCore,
        lease: SessionLease,
        result_seq: int,
        on_stopped: Callable[[SessionActor], None],
        *,
        seen_in: Sequence[str] = (),
    ) -> None:
        self.deps = deps
        self.core = core
        self.sid: str = core.session_id
        self.lease = lease
        self.result_seq = result_seq
        self._on_stopped = on_stopped
        self._vad = deps.new_vad()
        self._heard = bytearray()  # the last HEARD_BYTES of audio VAD has seen
        self._tasks: set[asyncio.Task[Any]] = set()
        #: job requests on their way to JetStream (a stop lets them arrive first)
        self._requests: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self.outbox = Outbox(self.sid, deps.bus, sent_seq=core.seq)
        self.writer = Writer(self.sid, self._persist_one, self._fenced)
        self._audio_ready = asyncio.Event()
        self._parked: OrderedDict[str, list[jobs.Result]] = OrderedDict()
        self._live_requests: set[str] = set()
        self._subs: list[Closable] = []
        self._results: asyncio.Future[Closable] | None = None
        self._stopping = False
        self.stopped = asyncio.Event()
        self.lease_lost = False
        self.last_activity = time.monotonic()
        self._seen_in: OrderedDict[str, None] = OrderedDict.fromkeys(seen_in[-MAX_SEEN_IN:])
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # monotonic time the armed timer is for
        self._tape = AnswerTape()

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe, write the first snapshot (claims the row with our fence), start loops."""
        await self._save_snapshot()
        self._subs.append(await self.deps.bus.listen(self.sid, self._on_in))
        if self.core.live_jobs() or self.core.phase not in ("idle", "finished"):
            await self._ensure_results()  # mid-interview: replay what came in meanwhile
        for coro, name in (
            (self._vad_loop(), "vad"),
            (self.outbox.run(), "send"),
            (self.writer.run(), "persist"),
        ):
            self._loops.append(asyncio.create_task(coro, name=f"{self.sid}-{name}"))
        self.lease.hold(self._lost)
        self._arm_tick()

    async def _lost(self) -> None:
        self.lease_lost = True
        log.warning("session %s: lease lost, stopping without writing", self.sid)
        self._spawn(self.stop(snapshot=False))

    async def stop(self, *, snapshot: bool = True) -> None:
        """Stop: final snapshot (when we still own the lease), release the lease, leave."""
        if self._stopping:
            await self.stopped.wait()
            return
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
        try:
            for sub in self._subs:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sub.close(), 2.0)
            # Let queued output, writes and job requests finish (bounded), then stop the
            # loops. A request cut off here would leave the next owner waiting for a job
            # nobody queued until its deadline; results that arrive meanwhile are left
            # for the next owner (see _on_result).
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drain_queues(), 5.0)
            current = asyncio.current_task()
            await cancel_and_wait(t for t in [*self._loops, *self._tasks] if t is not current)
            await self._close_results()
            if snapshot and not self.lease_lost:
                with contextlib.suppress(Exception):
                    await self._save_snapshot(flush_timeout=0.0)  # the send loop is over
            # before the release: a later "active on" line for this session (anywhere)
            # is then certainly later than this one (the activation audit reads both)
            log.info(
                "session %s stopped on %s (%s)",
                self.sid,
                self.deps.node_id,
                "lease lost" if self.lease_lost else "released",
            )
            self.lease.drop()
            if not self.lease_lost:
                await self.lease.release()
        finally:
            self.stopped.set()
            self._on_stopped(self)

    async def _ensure_results(self) -> None:
        """Tail the session's results from the first one not yet consumed; once. A quiet
        session (not started, or finished) has none coming, so it holds no consumer."""
        fut = self._results
        if fut is None or (fut.done() and (fut.cancelled() or fut.exception() is not None)):
            fut = self._results = asyncio.ensure_future(
                self.deps.bus.tail_results(self.sid, self.result_seq + 1, self._on_result)
            )
        await asyncio.shield(fut)

    async def _close_results(self) -> None:
        fut, self._results = self._results, None
        if fut is None:
            return
        if not fut.done():
            await cancel_and_wait([fut])  # type: ignore[list-item]
        if not fut.cancelled() and fut.exception() is None:
            await fut.result().close()

    async def _drain_queues(self) -> None:
        await asyncio.gather(
            self.outbox.join(), self.writer.join(), *self._requests, return_exceptions=True
        )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- inputs --------------------------------------------------------------------------

    def _feed(self, event: inputs.Input) -> None:
        if self._stopping:
            return
        try:
            commands = self.core.handle(event)
        except Exception:
            log.exception("session %s: core rejected %s", self.sid, type(event).__name__)
            return
        self._execute(commands)
        self._arm_tick()

    async def _on_in(self, msg: InMessage) -> None:
        self.last_activity = time.monotonic()
        if msg.headers and msg.headers.get(subjects.HDR_AUDIO):
            self.core.receive_audio(msg.data, time.monotonic())
            self._audio_ready.set()
            self._arm_tick()
            return
        try:
            event = events.decode_client_event(msg.data)
        except BadMessage as exc:
            await self._reply(msg, events.decode_error(exc))
            return
        if isinstance(event, events.Hello):
            await self._reply(msg, events.Error(code="bad_message", message="not for the actor"))
            return
        if isinstance(event, events.Probe):
            await self._reply(msg, None)  # the edge checks that someone owns the session
            return
        in_id = msg.headers.get(subjects.HDR_IN_ID, "") if msg.headers else ""
        changes = isinstance(event, events.Start | events.AnswerText | events.End)
        if in_id in self._seen_in:
            # re-sent after a timeout: taken already; acknowledged once it is stored
            if not changes or await self._stored():
                await self._reply(msg, None)
            return
        self._feed(inputs.ClientInput(event=event, now=time.monotonic()))
        if in_id:
            self._seen_in[in_id] = None
            while len(self._seen_in) > MAX_SEEN_IN:
                self._seen_in.popitem(last=False)
        # Acknowledge what changed the session only once it is in Postgres (bounded, below
        # the edge's request timeout): an answer the edge saw acknowledged survives the loss
        # of this node or its lease; one that was not is re-sent by the edge (same id) until
        # an owner has stored it.
        if not changes or await self._stored():
            await self._reply(msg, None)

    async def _stored(self) -> bool:
        """True once every write queued so far is in Postgres (waits at most
        :data:`DURABLE_ACK_S`)."""
        try:
            await asyncio.wait_for(self.writer.join(), DURABLE_ACK_S)
        except TimeoutError:
            return False
        return True

    async def _reply(self, msg: InMessage, error: events.Error | None) -> None:
        if not msg.reply:
            return
        with contextlib.suppress(Exception):
            await msg.respond(b"ok" if error is None else events.encode(error))

    async def _on_result(self, stream_seq: int, data: bytes) -> None:
        if self._stopping:
            return  # not counted in result_seq: the next owner replays it
        self.result_seq = max(self.result_seq, stream_seq)
        try:
            result = jobs.decode_result(data)
        except BadMessage as exc:
            log.warning("session %s: undecodable result: %s", self.sid, exc)
            return
        if result.job_id not in self._live_requests and not self.core.expects(result.job_id):
            self._park(result)
            return
        self._feed(inputs.JobResultIn(result=result, now=time.monotonic()))

    def _park(self, result: jobs.Result) -> None:
        self._parked.setdefault(result.job_id, []).append(result)
        self._parked.move_to_end(result.job_id)
        while len(self._parked) > MAX_PARKED_JOBS:
            self._parked.popitem(last=False)

    def _arm_tick(self) -> None:
        """Keep one timer armed for the core's next ``Tick``: every ``TICK_S`` while the
        interview is under way, at the next heartbeat or idle deadline while it is quiet
        (so a thousand idle sessions cost a few wake-ups a second, not ten thousand)."""
        if self._stopping:
            return
        now = time.monotonic()
        due = self.core.next_tick()
        want = now + TICK_S if due is None else max(due, now + 0.001)
        if self._timer is not None:
            if self._timer_at <= want + 0.001:
                return  # fires soon enough; it re-arms after its tick
            self._timer.cancel()
        if want == math.inf:
            self._timer = None
            return
        self._timer_at = want
        self._timer = asyncio.get_running_loop().call_later(want - now, self._on_tick)

    def _on_tick(self) -> None:
        now = time.monotonic()
        self.deps.record_lateness(max(0.0, now - self._timer_at))
        self._timer = None
        self._feed(inputs.Tick(now=now))
        if self._timer is None:
            self._arm_tick()  # the core ignored the tick (e.g. deactivated): still re-arm

    async def _vad_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._audio_ready.wait()
            self._audio_ready.clear()
            pcm = self.core.audio_to_analyze()
            if not pcm:
                continue
            probs = await loop.run_in_executor(self.deps.vad_executor, self._vad.process, pcm)
            if self.deps.end_of_turn is not None:
                self._heard += pcm
                if len(self._heard) > HEARD_BYTES:
                    del self._heard[: len(self._heard) - HEARD_BYTES]
            self._feed(inputs.VoiceActivity(pcm=pcm, probs=probs, now=time.monotonic()))

    def _check_turn(self, c: cmd.CheckTurn) -> None:
        model = self.deps.end_of_turn
        if model is None:
            return
        skip = int(c.skip_ms * 32) & ~1  # 32 bytes per ms of 16 kHz PCM16
        want = int(min(c.audio_ms, 8000.0) * 32) & ~1
        end = max(0, len(self._heard) - skip)
        start = max(0, end - want)
        pcm = bytes(self._heard[start:end])
        if pcm:
            self._spawn(self._judge(model, c.check, pcm))

    async def _judge(self, model: EndOfTurnModel, check: int, pcm: bytes) -> None:
        loop = asyncio.get_running_loop()
        try:
            p = await loop.run_in_executor(self.deps.vad_executor, model.probability, pcm)
        except Exception as exc:  # the silence fallback still ends the turn
            log.warning("session %s: end-of-turn model failed: %r", self.sid, exc)
            return
        self._feed(inputs.TurnVerdict(check=check, probability=p, now=time.monotonic()))

    # --- commands ------------------------------------------------------------------------

    def _execute(self, commands: list[cmd.Command]) -> None:
        for c in commands:
            match c:
                case cmd.Emit() | cmd.EmitAudio():
                    self.outbox.put(c)
                case cmd.RequestJob():
                    if isinstance(c.job, jobs.SttJob):
                        self._tape.on_stt(c.job)
                    self._live_requests.add(c.job.job_id)
                    task = self._spawn(self._request(c))
                    self._requests.add(task)
                    task.add_done_callback(self._requests.discard)
                case cmd.Snapshot() | cmd.PersistTurn() | cmd.PersistReport():
                    self.writer.put(c)
                    if isinstance(c, cmd.PersistTurn):
                        self._keep_answer(c.record)
                case cmd.CheckTurn():
                    self._check_turn(c)
                case cmd.Deactivate():
                    log.info("session %s: deactivating (%s)", self.sid, c.reason)
                    self._spawn(self.stop())
                case _:
                    assert_never(c)

    def _keep_answer(self, record: TurnRecord) -> None:
        """Store a spoken answer's audio for replay (actors.session.replay)."""
        wav = self._tape.take(record)
        if wav is not None:
            self._spawn(self.deps.bus.keep_answer(self.sid, record.turn, wav))

    async def _request(self, c: cmd.RequestJob) -> None:
        job_id = c.job.job_id
        deadline = time.time() + (c.deadline - time.monotonic())
        try:
            await self._ensure_results()
            duplicate = await self.deps.bus.request_job(self.sid, c.kind, c.job, deadline)
        except Exception as exc:
            log.warning("session %s: job %s not queued: %r", self.sid, job_id, exc)
            err = jobs.JobError(job_id=job_id, kind=c.kind, code="unavailable", message=str(exc))
            self._feed(inputs.JobResultIn(result=err, now=time.monotonic()))
            return
        parked = self._parked.pop(job_id, None)
        if parked:
            for result in parked:
                self._feed(inputs.JobResultIn(result=result, now=time.monotonic()))
        elif duplicate:
            log.debug("session %s: job %s was already queued", self.sid, job_id)

    def _fenced(self) -> None:
        self.lease_lost = True
        self._spawn(self.stop(snapshot=False))

    async def _persist_one(self, c: Persist, clean: bool) -> None:
        """One write; ``clean`` asks the store to strip what it cannot hold from the text."""
        store = self.deps.store
        match c:
            case cmd.Snapshot():
                await self._save_snapshot()
            case cmd.PersistTurn():
                await store.save_turn(self.sid, c.record, clean=clean)
            case cmd.PersistReport():
                await store.save_report(self.sid, c.report, clean=clean)
            case _:
                assert_never(c)

    async def _save_snapshot(self, flush_timeout: float = OUT_FLUSH_S) -> None:
        blob = encode_shell_snapshot(
            ShellSnapshot(
                core=self.core.snapshot(), result_seq=self.result_seq, seen_in=list(self._seen_in)
            )
        )
        # The next owner continues after the OUT stream's last seq: write a state only
        # once the events it claims to have sent are there, or the client sees a gap.
        await self.outbox.sent_up_to(self.core.seq, flush_timeout)
        await self.deps.store.save_snapshot(
            self.sid,
            blob,
            fence=self.lease.revision,
            seq=self.core.seq,
            owner=self.deps.node_id,
            status=self.core.status,
            language=self.core.language,
            role=self.core.role,
        )
