"""The session role of a node: activates session actors on demand, holds them, drains.

Placement: session nodes share the queue group ``session-nodes`` on
``interview.activate``, so NATS hands each activation to one node (random among the
members). A node at capacity declines and the edge asks again. The winner claims the
session's lease (KV ``create``), restores the last snapshot from Postgres, and
subscribes to ``interview.session.<sid>.in``; from then on the edge's requests reach it
directly. A node that loses the lease stops that actor at once.

Drain (SIGTERM): stop taking activations, snapshot and release every session so the
next client message re-activates it on another node.

Housekeeping (:meth:`SessionNode._janitor`): an actor still not started
``retention.start_timeout_s`` after its activation is evicted and its row removed (a
client that only says ``hello`` holds no slot for long), and every
``retention.sweep_every_s`` a bounded sweep applies the retention of
:mod:`persistence.retention`.
"""

from __future__ import annotations

__all__ = ["SessionNode"]

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from actors.bank import load_bank
from actors.models.engines import EndOfTurnModel, VoiceDetector
from actors.runtime import Lease, LeaseHeld, LeaseKeeper
from actors.session.actor import SessionActor, SessionDeps
from actors.session.config import CoreConfig
from actors.session.core import SessionCore
from actors.session.erase import serve_deletes
from actors.session.live import KeptLease, NatsSessionBus, PostgresSessionStore
from actors.session.phrases import default_phrases
from actors.session.snapshot import decode_shell_snapshot
from bus import activation, subjects
from bus.activation import ActivateReply
from bus.tail import Tails
from bus.tasks import cancel_and_wait
from persistence import retention as retention_mod
from persistence import snapshots
from persistence.retention import Retention

log = logging.getLogger(__name__)


async def last_out_seq(js: Any, sid: str) -> int:
    """The ``seq`` of the last event the session published to the OUT stream (0 if none)."""
    try:
        msg = await asyncio.wait_for(
            js.get_last_msg(subjects.STREAM_OUT, subjects.session_out(sid)), 2.0
        )
    except Exception:
        return 0
    try:
        return int(msgspec.json.decode(msg.data).get("seq", 0))
    except Exception:
        return 0


class SessionNode:
    """Holds this node's session actors. ``start()`` joins the activation queue group."""

    def __init__(
        self,
        nc: Client,
        pool: asyncpg.Pool,
        owners: KeyValue,
        *,
        node_id: str,
        new_vad: Callable[[], VoiceDetector],
        end_of_turn: EndOfTurnModel | None = None,
        owner_ttl: float = 5.0,
        max_sessions: int = 2000,
        core_config: CoreConfig | None = None,
        retention: Retention | None = None,
        replay: ObjectStore | None = None,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.pool = pool
        self.owners = owners
        self.node_id = node_id
        self.owner_ttl = owner_ttl
        self.max_sessions = max_sessions
        self.core_config = core_config or CoreConfig()
        self.bank = load_bank()
        self.actors: dict[str, SessionActor] = {}
        self._activating: dict[str, asyncio.Future[SessionActor]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad")
        self.tails = Tails(nc, self.js)
        self.leases = LeaseKeeper(nc, owner_ttl)
        if end_of_turn is None:  # registry.build_vad's factory carries the node's model
            end_of_turn = getattr(new_vad, "end_of_turn", None)
        self.deps = SessionDeps(
            bus=NatsSessionBus(nc, self.js, self.tails, replay),
            store=PostgresSessionStore(pool),
            node_id=node_id,
            new_vad=new_vad,
            vad_executor=self._executor,
            end_of_turn=end_of_turn,
        )
        self.retention = retention or Retention()
        self._born: dict[str, float] = {}
        self._janitor_task: asyncio.Task[None] | None = None
        self.evicted = 0
        self.swept = 0
        self._sub: Any = None
        self._delete_sub: Any = None
        self._replay = replay
        self.draining = False
        self.activations = 0
        self.started_at = time.monotonic()

    async def start(self) -> None:
        await self._load_end_of_turn()
        await self.leases.start()
        self._sub = await self.nc.subscribe(
            subjects.ACTIVATE, queue=subjects.SESSION_NODES_QUEUE, cb=self._on_activate
        )
        self._delete_sub = await serve_deletes(self.nc, self.pool, self._replay)
        self._janitor_task = asyncio.create_task(self._janitor(), name="session-janitor")

    async def _janitor(self) -> None:
        ret = self.retention
        period = max(0.5, min(5.0, ret.start_timeout_s / 4))
        next_sweep = time.monotonic()
        while not self.draining:
            await asyncio.sleep(period)
            now = time.monotonic()
            if ret.start_timeout_s:
                for sid, actor in list(self.actors.items()):
                    born = self._born.get(sid, now)
                    if actor.core.phase == "idle" and now - born >= ret.start_timeout_s:
                        await self._evict(actor)
            if ret.sweep_every_s and now >= next_sweep:
                next_sweep = now + ret.sweep_every_s
                try:
                    n = await asyncio.wait_for(retention_mod.sweep(self.pool, ret), 30.0)
                except Exception as exc:
                    log.warning("retention sweep failed: %r", exc)
                    continue
                self.swept += n
                if n:
                    log.info("retention sweep removed %d sessions", n)

    async def _evict(self, actor: SessionActor) -> None:
        """Remove a session that never started: its row (fenced), then the actor."""
        try:
            deleted = await asyncio.wait_for(
                retention_mod.delete_unstarted(self.pool, actor.sid, fence=actor.lease.revision),
                10.0,
            )
        except Exception as exc:
            log.warning("session %s: could not remove the unstarted session: %r", actor.sid, exc)
            return
        self.evicted += 1
        log.info("session %s: never started, evicted (row removed: %s)", actor.sid, deleted)
        await actor.stop(snapshot=False)

    async def _load_end_of_turn(self) -> None:
        """Load the end-of-turn model in the VAD executor (a first start may extract it
        into the model cache). If it cannot load, run without it: silence ends turns."""
        model = self.deps.end_of_turn
        if model is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, model.load)
        except Exception as exc:
            log.warning(
                "end-of-turn model %s unavailable, ending turns on silence only: %r",
                model.name,
                exc,
            )
            self.deps.end_of_turn = None

    async def _on_activate(self, msg: Msg) -> None:
        try:
            req = activation.decode_request(msg.data)
        except msgspec.MsgspecError as exc:
            await self._answer(msg, ActivateReply(ok=False, code="bad_message", message=str(exc)))
            return
        if not subjects.valid_session_id(req.session_id):
            await self._answer(
                msg, ActivateReply(ok=False, code="unknown_session", message="invalid session id")
            )
            return
        if self.draining or len(self.actors) >= self.max_sessions:
            await self._answer(msg, ActivateReply(ok=False, code="busy", message="node full"))
            return
        try:
            await self.activate(req.session_id, create=req.create)
            reply = ActivateReply(ok=True, node=self.node_id)
        except LeaseHeld:
            reply = ActivateReply(ok=True, code="elsewhere", node="")  # another node has it
        except LookupError:
            reply = ActivateReply(ok=False, code="unknown_session", message="no such session")
        except Exception as exc:
            log.exception("activation of %s failed", req.session_id)
            reply = ActivateReply(ok=False, code="unavailable", message=repr(exc)[:200])
        await self._answer(msg, reply)

    async def _answer(self, msg: Msg, reply: ActivateReply) -> None:
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(activation.encode(reply))

    async def activate(self, sid: str, *, create: bool) -> SessionActor:
        """Activate ``sid`` here (idempotent). Raises LeaseHeld if another node owns it,
        LookupError if it does not exist and ``create`` is false."""
        if sid in self.actors:
            return self.actors[sid]
        pending = self._activating.get(sid)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[SessionActor] = asyncio.get_running_loop().create_future()
        self._activating[sid] = fut
        try:
            actor = await self._activate(sid, create)
            fut.set_result(actor)
            return actor
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        finally:
            self._activating.pop(sid, None)

    async def _activate(self, sid: str, create: bool) -> SessionActor:
        lease = Lease(self.owners, sid, self.node_id, self.owner_ttl)
        await lease.claim()
        try:
            row = await snapshots.load_snapshot(self.pool, sid)
            phr = default_phrases
            seen_in: list[str] = []
            if row is not None and row.snapshot:
                shell = decode_shell_snapshot(row.snapshot)
                core = SessionCore.restore(
                    shell.core, self.core_config, self.bank, phr, now=time.monotonic()
                )
                result_seq = shell.result_seq
                seen_in = shell.seen_in
            elif create:
                core = SessionCore.new(sid, self.core_config, self.bank, phr)
                result_seq = 0
            else:
                raise LookupError(sid)
            core.set_seq_floor(await last_out_seq(self.js, sid))
            actor = SessionActor(
                self.deps,
                core,
                KeptLease(lease, self.leases),
                result_seq,
                self._forget,
                seen_in=seen_in,
            )
            # logged before the actor runs and paired with its "stopped on" line: the
            # chaos tests check from these that no two activations ever overlap
            log.info("session %s active on %s (restored=%s)", sid, self.node_id, row is not None)
            try:
                await actor.start()
            except BaseException:
                # undo what start() did (subscription, loops, lease hold) and log the stop
                await asyncio.shield(actor.stop(snapshot=False))
                raise
        except BaseException:
            await lease.release()
            raise
        self.actors[sid] = actor
        self._born[sid] = time.monotonic()
        self.activations += 1
        return actor

    def _forget(self, actor: SessionActor) -> None:
        if self.actors.get(actor.sid) is actor:
            del self.actors[actor.sid]
            self._born.pop(actor.sid, None)

    def stats(self) -> dict[str, Any]:
        late = sorted(self.deps.lateness[-1000:])

        def p(q: float) -> float:
            return round(late[min(len(late) - 1, int(q * len(late)))] * 1000, 2) if late else 0.0

        return {
            "node": self.node_id,
            "sessions": len(self.actors),
            "max_sessions": self.max_sessions,
            "activations": self.activations,
            "evicted_unstarted": self.evicted,
            "retention_swept": self.swept,
            "draining": self.draining,
            "tick_lateness_ms_p50": p(0.5),
            "tick_lateness_ms_p99": p(0.99),
        }

    async def drain(self, timeout: float = 20.0) -> None:
        """Stop taking sessions; snapshot and release each so other nodes take them over."""
        self.draining = True
        if self._janitor_task is not None:
            await cancel_and_wait([self._janitor_task])
        for sub in (self._sub, self._delete_sub):
            if sub is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sub.unsubscribe(), 2.0)
        actors = list(self.actors.values())
        if actors:
            await asyncio.wait([asyncio.create_task(a.stop()) for a in actors], timeout=timeout)
        await self.tails.close()
        await self.leases.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
