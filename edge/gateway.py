"""The WebSocket gateway: one browser connection <-> one session on the bus; the async
shell of :mod:`edge.link`, which decides everything about a connection.

Per connection the shell reads messages and feeds them to the connection's
:class:`~edge.link.Link` (the frames themselves are counted by :mod:`edge.wsconn` as they
are parsed) and carries out what it answers: it creates or resumes the session (token
checked, the per-address rate of new sessions), subscribes to the session's ``.out``
stream (replaying events after ``last_seq``) and ``.audio`` subject, and relays: client
events go to ``interview.session.<sid>.in`` as requests (the owning actor acks; "no
responders" means nobody owns it, so the gateway activates it and retries), audio is
published there as binary. A session silent for ``owner_probe_s`` is probed: when its
node died nobody answers, and the gateway re-activates it on another node at once (a
client waiting for the next question sends nothing that would notice). Output goes
through one bounded queue per connection; a client too slow to keep up is disconnected
(it resumes) rather than allowed to grow server memory. Every network await has a
deadline and every task of a connection ends with it.
"""

from __future__ import annotations

__all__ = ["Gateway"]

import asyncio
import contextlib
import logging
import secrets
from typing import Any, assert_never

import msgspec
import nats.errors
from nats.aio.client import Client
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bus import activation, events, subjects
from bus.errors import BadMessage
from bus.tail import Tail, Tails
from bus.tasks import cancel_and_wait
from edge.admission import PerIp, address_key
from edge.errors import EdgeError, RevocationUnavailable, TokenError
from edge.limits import Limits
from edge.link import Action, Close, Count, Forward, ForwardAudio, Phase, Reply
from edge.metrics import Metrics
from edge.tokens import Tokens
from edge.warming import WarmingWatch
from edge.wsconn import EdgeConnection

log = logging.getLogger(__name__)

CLOSE_BAD_TOKEN = 4401
CLOSE_UNKNOWN = 4404
CLOSE_SLOW = 1013
CLOSE_POLICY = 1008
CLOSE_TRY_LATER = 1013


class _Refused(EdgeError):
    """A client refused with an ``error`` event (and maybe a close); never leaves the
    gateway."""

    def __init__(self, code: events.ErrorCode, message: str, close: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close = close


class Gateway:
    """Serves WebSocket connections; ``handler`` is what ``websockets.serve`` calls."""

    def __init__(
        self, nc: Client, tokens: Tokens, metrics: Metrics, limits: Limits | None = None
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.tails = Tails(nc, self.js)
        self.tokens = tokens
        self.metrics = metrics
        self.limits = limits or Limits()
        self.connections = 0
        self.per_ip = PerIp(
            self.limits.max_connections_per_ip,
            self.limits.sessions_per_ip_per_min,
            abuse_strikes=self.limits.abuse_strikes_per_min,
            abuse_block_s=self.limits.abuse_block_s,
        )
        #: loop time until which the session nodes are known to be full
        self.full_until = 0.0
        #: which model roles are warming up (the edge sets it; None: never tell)
        self.warming: WarmingWatch | None = None

    # --- bus helpers ---------------------------------------------------------------------

    async def activate(self, sid: str, *, create: bool) -> None:
        """Make sure some session node owns ``sid``; raise _Refused otherwise."""
        payload = activation.encode(activation.ActivateRequest(session_id=sid, create=create))
        last = "unavailable"
        for attempt in range(6):
            try:
                msg = await self.nc.request(subjects.ACTIVATE, payload, timeout=5.0)
                reply = activation.decode_reply(msg.data)
            except (
                TimeoutError,
                nats.errors.NoRespondersError,
                nats.errors.TimeoutError,
                msgspec.DecodeError,
            ) as exc:
                last = f"no session node answered ({type(exc).__name__})"
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if reply.ok:
                return
            if reply.code == "unknown_session":
                raise _Refused("unknown_session", "no such session", CLOSE_UNKNOWN)
            if reply.code == "busy" and create:
                # every node declined: new sessions wait (the upgrade gets 503 meanwhile)
                loop = asyncio.get_running_loop()
                self.full_until = loop.time() + self.limits.busy_retry_after_s
                self.metrics.inc("ws_refused_busy_total")
                raise _Refused("busy", "Parley is at capacity; try again later", CLOSE_TRY_LATER)
            last = reply.message or reply.code
            await asyncio.sleep(0.2 * (attempt + 1))
        raise _Refused("unavailable", f"session could not be activated: {last}")

    async def send_in(
        self, sid: str, event: events.ClientEvent, budget: float = 15.0, in_id: str = ""
    ) -> events.Error | None:
        """Deliver a client event to the owning actor, activating the session if nobody
        owns it. When the owner died, its lease must expire before another node can take
        over, so this keeps trying for ``budget`` seconds (longer than the lease TTL):
        the event is delivered late rather than lost. ``in_id`` goes with every attempt,
        so an owner that took the event before its reply was lost takes it only once."""
        data = events.encode(event)
        subject = subjects.session_in(sid)
        headers = {subjects.HDR_IN_ID: in_id} if in_id else None
        loop = asyncio.get_running_loop()
        end = loop.time() + budget
        delay = 0.05
        while True:
            try:
                reply = await self.nc.request(subject, data, timeout=3.0, headers=headers)
            except nats.errors.NoRespondersError:
                await self.activate(sid, create=False)
                reply = None
            except (TimeoutError, nats.errors.TimeoutError):
                reply = None
            if reply is not None:
                if reply.data == b"ok":
                    return None
                try:
                    decoded = events.decode_server_event(reply.data)
                except BadMessage:
                    return events.Error(code="unavailable", message="bad reply from session")
                return decoded if isinstance(decoded, events.Error) else None
            if loop.time() + delay > end:
                return events.Error(code="unavailable", message="the session did not answer")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    # --- connection ----------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        assert isinstance(ws, EdgeConnection)
        ip = client_ip(ws)
        if not self.per_ip.opened(ip):  # several handshakes raced past the admission check
            self.metrics.inc("ws_refused_per_ip_total")
            await ws.close(CLOSE_POLICY, "too many connections from your address")
            return
        self.connections += 1
        self.metrics.inc("ws_connections_total")
        conn = _Connection(self, ws, ip)
        try:
            await conn.run()
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self.connections -= 1
            self.per_ip.closed(ip)
            if ws.was_cut:
                self.per_ip.struck(ip)
            await conn.close()


def client_ip(ws: ServerConnection) -> str:
    """The client's address as the per-address limits key it (see
    :func:`edge.admission.address_key`: an IPv6 client by its /64)."""
    peer = ws.remote_address
    return address_key(str(peer[0])) if peer else "?"


class _Connection:
    """The async shell of one connection: it feeds the connection's :class:`Link` and
    does what it says (see :mod:`edge.link`)."""

    def __init__(self, gw: Gateway, ws: EdgeConnection, ip: str) -> None:
        self.gw = gw
        self.ws = ws
        self.ip = ip
        self.link = ws.link
        self.limits = gw.limits
        self.loop = asyncio.get_running_loop()
        self.out: asyncio.Queue[str | bytes | None] = asyncio.Queue(self.limits.outbound_queue)
        self.subs: list[Any] = []
        self.out_tail: Tail | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.attached = False

    @property
    def sid(self) -> str:
        return self.link.sid

    async def run(self) -> None:
        try:
            first: str | bytes | None = await asyncio.wait_for(
                self.ws.recv(), self.limits.hello_timeout_s
            )
        except TimeoutError:
            first = None
        hello = self.link.first(first)
        if isinstance(hello, list):
            await self.do(hello)
            return
        try:
            sid, token = await self._open_session(hello)
        except _Refused as exc:
            await self.do(self.link.refused(exc.code, exc.message, exc.close))
            return
        resumed = hello.session_id is not None
        self.link.opened(sid, self.loop.time(), resumed=resumed, last_seq=hello.last_seq)
        await self._subscribe()
        self.tasks.append(asyncio.create_task(self._writer(), name=f"ws-writer-{sid}"))
        await self._put(
            events.encode(events.Ready(session_id=sid, token=token, resumed=resumed)).decode()
        )
        if self.gw.warming is not None:
            self.tasks.append(asyncio.create_task(self._tell_warming(self.gw.warming)))
        err = await self.gw.send_in(sid, events.Attach(last_seq=self.link.last_seq))
        self.attached = err is None
        self.link.heard(self.loop.time())
        self.tasks.append(asyncio.create_task(self._watch_owner(), name=f"ws-owner-{sid}"))
        self.tasks.append(asyncio.create_task(self._ticker(), name=f"ws-tick-{sid}"))
        async for frame in self.ws:
            await self.do(self.link.message(frame, self.loop.time()))

    async def _tell_warming(self, watch: WarmingWatch) -> None:
        """A ``warming`` event now if a model role is not ready, then at each change, and
        once more (empty) when all are ready again."""
        seen, told = 0, False
        while True:
            seen, roles = await watch.wait(seen)
            if roles or told:
                await self._put(events.encode(events.Warming(roles=roles)).decode())
                told = bool(roles)

    async def do(self, actions: list[Action]) -> None:
        """Carry out the Link's actions, in order."""
        for action in actions:
            match action:
                case Count(metric, amount):
                    self.gw.metrics.inc(metric, amount)
                case Reply(error):
                    await self._send_error(error)
                case ForwardAudio(pcm):
                    with contextlib.suppress(Exception):
                        await self.gw.nc.publish(
                            subjects.session_in(self.sid), pcm, headers={subjects.HDR_AUDIO: "1"}
                        )
                case Forward(event, in_id):
                    try:
                        err = await self.gw.send_in(self.sid, event, in_id=in_id)
                    except _Refused as exc:
                        err = events.Error(code=exc.code, message=exc.message)
                    await self.do(self.link.answered(event, err, self.loop.time()))
                case Close(code, reason, error, abusive):
                    if abusive:
                        self.ws.cut(code, reason, error)
                        return
                    if error is not None:
                        with contextlib.suppress(Exception):
                            await self._send_error(error)
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(
                            self.ws.close(code, reason), self.limits.send_timeout_s
                        )
                    return
                case _:
                    assert_never(action)

    async def _send_error(self, error: events.Error) -> None:
        await asyncio.wait_for(
            self.ws.send(events.encode(error).decode()), self.limits.send_timeout_s
        )

    async def _ticker(self) -> None:
        """Wake at the Link's next deadline (start, idle) and let it decide."""
        while self.link.phase is Phase.OPEN:
            at = self.link.next_tick()
            wait = 60.0 if at is None else max(0.0, at - self.loop.time())
            await asyncio.sleep(min(wait, 60.0))
            await self.do(self.link.tick(self.loop.time()))

    async def _watch_owner(self) -> None:
        """Probe a silent session; when its owner is gone, re-activate it elsewhere."""
        period = self.limits.owner_probe_s
        probe = events.encode(events.Probe())
        subject = subjects.session_in(self.sid)
        while not self.link.finished:
            await asyncio.sleep(period)
            if self.link.quiet_for(self.loop.time()) < period:
                continue
            try:
                await self.gw.nc.request(subject, probe, timeout=period)
                self.link.heard(self.loop.time())
                continue
            except nats.errors.NoRespondersError:
                pass
            except Exception:  # slow or reconnecting: the owner's lease decides, not us
                continue
            self.gw.metrics.inc("ws_owner_lost_total")
            log.info("session %s: owner gone, re-activating", self.sid)
            try:
                err = await self.gw.send_in(self.sid, events.Attach(last_seq=self.link.last_seq))
            except _Refused as exc:
                log.warning("session %s: re-activation refused: %s", self.sid, exc.message)
                if exc.close:  # e.g. evicted unstarted: the session is gone for good
                    await self.do(self.link.refused(exc.code, exc.message, exc.close))
                    return
                continue
            if err is None:
                self.link.heard(self.loop.time())

    async def _open_session(self, hello: events.Hello) -> tuple[str, str]:
        """(session id, token) of the session ``hello`` creates or resumes; a resumed
        session gets a fresh session token (an interview in progress never runs out)."""
        tokens = self.gw.tokens
        if hello.session_id is None:
            wait = self.gw.per_ip.take_session(self.ip)
            if wait:
                self.gw.metrics.inc("ws_refused_session_rate_total")
                raise _Refused(
                    "rate_limited",
                    f"too many new sessions from your address; try again in {wait:.0f} s",
                    CLOSE_POLICY,
                )
            sid = secrets.token_urlsafe(12)
            token = tokens.issue(sid)
            await self.gw.activate(sid, create=True)
            self.gw.metrics.inc("sessions_created_total")
            return sid, token
        try:
            await tokens.check(hello.token or "", hello.session_id)
        except TokenError as exc:
            raise _Refused("bad_token", str(exc), CLOSE_BAD_TOKEN) from None
        except RevocationUnavailable as exc:
            raise _Refused("unavailable", str(exc)) from None
        await self.gw.activate(hello.session_id, create=False)
        self.gw.metrics.inc("sessions_resumed_total")
        return hello.session_id, tokens.issue(hello.session_id)

    async def _subscribe(self) -> None:
        nc = self.gw.nc

        async def on_event(msg: Any) -> None:
            if self.link.event(msg.data, self.loop.time()):
                await self._put(msg.data.decode())

        async def on_audio(msg: Any) -> None:
            await self._put(msg.data, droppable=True)

        self.out_tail = await self.gw.tails.open(
            subjects.STREAM_OUT, subjects.session_out(self.sid), 1, on_event
        )
        self.subs.append(await nc.subscribe(subjects.session_audio(self.sid), cb=on_audio))

    async def _put(self, item: str | bytes, droppable: bool = False) -> None:
        if self.out.full():
            if droppable:
                self.gw.metrics.inc("ws_audio_dropped_total")
                return
            self.gw.metrics.inc("ws_slow_client_closed_total")
            self.tasks.append(asyncio.create_task(self.ws.close(CLOSE_SLOW, "client too slow")))
            return
        self.out.put_nowait(item)

    async def _writer(self) -> None:
        while True:
            item = await self.out.get()
            if item is None:
                return
            await asyncio.wait_for(self.ws.send(item), self.limits.send_timeout_s)
            self.gw.metrics.inc("ws_frames_sent_total")

    async def close(self) -> None:
        await cancel_and_wait(self.tasks)
        if self.out_tail is not None:
            await self.out_tail.close()
        for sub in self.subs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sub.unsubscribe(), 2.0)
        if self.attached and self.sid:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.gw.nc.publish(
                        subjects.session_in(self.sid), events.encode(events.Detach())
                    ),
                    1.0,
                )
