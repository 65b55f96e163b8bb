"""The WebSocket gateway: one browser connection <-> one session on the bus.

Per connection: the first text frame must be ``hello`` (within a deadline). The gateway
creates or resumes the session (token checked), subscribes to the session's ``.out``
stream (replaying events after ``last_seq``) and ``.audio`` subject, then relays: client
text events go to ``interview.session.<sid>.in`` as requests (the owning actor acks;
"no responders" means nobody owns it, so the gateway activates it and retries), client
audio is published there as binary. A session silent for ``owner_probe_s`` is probed:
when its node died nobody answers, and the gateway re-activates it on another node at
once (a client waiting for the next question sends nothing that would notice). Output
goes through one bounded queue per
connection; a client too slow to keep up is disconnected (it resumes) rather than
allowed to grow server memory. Every network await has a deadline and every task of a
connection ends with it.

Admission (with :mod:`edge.admission`): connections and new sessions per client address
are limited; a new session that sends no ``start`` within ``start_timeout_s`` is closed
(1008); free text is cleaned (:mod:`edge.sanitize`) before it goes anywhere; refusals
sustained past their burst close the socket (1008); error events are themselves rate
limited (the excess is counted in ``ws_errors_suppressed_total``).
"""

from __future__ import annotations

__all__ = ["Gateway"]

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bus import activation, events, subjects
from bus.errors import BadMessage
from bus.tail import Tail, Tails
from bus.tasks import cancel_and_wait
from edge import auth
from edge.admission import PerIp
from edge.errors import EdgeError
from edge.limits import Limits, TokenBucket
from edge.metrics import Metrics
from edge.sanitize import clean_event
from edge.warming import WarmingWatch

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
        self, nc: Client, secret: bytes, metrics: Metrics, limits: Limits | None = None
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.tails = Tails(nc, self.js)
        self.secret = secret
        self.metrics = metrics
        self.limits = limits or Limits()
        self.connections = 0
        self.per_ip = PerIp(self.limits.max_connections_per_ip, self.limits.sessions_per_ip_per_min)
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
            await conn.close()


def client_ip(ws: ServerConnection) -> str:
    """The TCP peer's address (a proxy's, behind one)."""
    peer = ws.remote_address
    return str(peer[0]) if peer else "?"


class _Connection:
    def __init__(self, gw: Gateway, ws: ServerConnection, ip: str) -> None:
        self.gw = gw
        self.ws = ws
        self.ip = ip
        self.limits = gw.limits
        self.sid = ""
        self.last_seq = 0
        self.out: asyncio.Queue[str | bytes | None] = asyncio.Queue(self.limits.outbound_queue)
        self.subs: list[Any] = []
        self.out_tail: Tail | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.msg_bucket = TokenBucket(self.limits.messages_per_s, self.limits.message_burst)
        self.audio_bucket = TokenBucket(
            self.limits.audio_bytes_per_s, self.limits.audio_burst_bytes
        )
        self.violations = TokenBucket(self.limits.violations_per_s, self.limits.violation_burst)
        self.error_bucket = TokenBucket(self.limits.errors_per_s, self.limits.error_burst)
        self.started = False
        self.attached = False
        self.last_heard = 0.0
        self.finished = False
        self.conn_id = secrets.token_urlsafe(6)
        self.sent_in = 0

    async def send_error(
        self, code: events.ErrorCode, message: str, *, always: bool = False
    ) -> None:
        """Send an ``error`` event, unless this connection had too many lately (then it
        is only counted). ``always``: one that goes with a close."""
        if not always and not self.error_bucket.take():
            self.gw.metrics.inc("ws_errors_suppressed_total")
            return
        self.gw.metrics.inc(f'ws_errors_total{{code="{code}"}}')
        await asyncio.wait_for(
            self.ws.send(events.encode(events.Error(code=code, message=message)).decode()),
            self.limits.send_timeout_s,
        )

    async def run(self) -> None:
        try:
            first = await asyncio.wait_for(self.ws.recv(), self.limits.hello_timeout_s)
        except TimeoutError:
            await self.send_error("bad_message", "send hello first", always=True)
            await self.ws.close(1008, "no hello")
            return
        hello = await self._decode_hello(first)
        if hello is None:
            return
        try:
            token = await self._open_session(hello)
        except _Refused as exc:
            await self.send_error(exc.code, exc.message, always=True)
            if exc.close:
                await self.ws.close(exc.close, exc.code)
            return
        await self._subscribe()
        self.tasks.append(asyncio.create_task(self._writer(), name=f"ws-writer-{self.sid}"))
        await self._put(
            events.encode(
                events.Ready(session_id=self.sid, token=token, resumed=hello.session_id is not None)
            ).decode()
        )
        if self.gw.warming is not None:
            self.tasks.append(asyncio.create_task(self._tell_warming(self.gw.warming)))
        err = await self.gw.send_in(self.sid, events.Attach(last_seq=self.last_seq))
        self.attached = err is None
        self._heard()
        self.tasks.append(asyncio.create_task(self._watch_owner(), name=f"ws-owner-{self.sid}"))
        if hello.session_id is None and self.limits.start_timeout_s:
            self.tasks.append(
                asyncio.create_task(self._start_deadline(), name=f"ws-start-{self.sid}")
            )
        await self._reader()

    async def _tell_warming(self, watch: WarmingWatch) -> None:
        """A ``warming`` event now if a model role is not ready, then at each change, and
        once more (empty) when all are ready again."""
        seen, told = 0, False
        while True:
            seen, roles = await watch.wait(seen)
            if roles or told:
                await self._put(events.encode(events.Warming(roles=roles)).decode())
                told = bool(roles)

    async def _start_deadline(self) -> None:
        """A new session must ``start`` in time; the session node evicts it too."""
        await asyncio.sleep(self.limits.start_timeout_s)
        if self.started:
            return
        self.gw.metrics.inc("ws_start_timeout_total")
        with contextlib.suppress(Exception):
            await self.send_error(
                "start_timeout", "the interview was not started in time", always=True
            )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.ws.close(CLOSE_POLICY, "start timeout"), self.limits.send_timeout_s
            )

    async def _violation(self, reason: str) -> bool:
        """Count a refused message or frame; past the sustained limit close 1008 and
        return True."""
        if self.violations.take():
            return False
        self.gw.metrics.inc("ws_closed_for_abuse_total")
        with contextlib.suppress(Exception):
            await self.send_error("rate_limited", f"{reason}; closing", always=True)
        await self.ws.close(CLOSE_POLICY, "rate limit")
        return True

    def _heard(self) -> None:
        self.last_heard = asyncio.get_running_loop().time()

    async def _watch_owner(self) -> None:
        """Probe a silent session; when its owner is gone, re-activate it elsewhere."""
        period = self.limits.owner_probe_s
        loop = asyncio.get_running_loop()
        probe = events.encode(events.Probe())
        subject = subjects.session_in(self.sid)
        while not self.finished:
            await asyncio.sleep(period)
            if loop.time() - self.last_heard < period:
                continue
            try:
                await self.gw.nc.request(subject, probe, timeout=period)
                self._heard()
                continue
            except nats.errors.NoRespondersError:
                pass
            except Exception:  # slow or reconnecting: the owner's lease decides, not us
                continue
            self.gw.metrics.inc("ws_owner_lost_total")
            log.info("session %s: owner gone, re-activating", self.sid)
            try:
                err = await self.gw.send_in(self.sid, events.Attach(last_seq=self.last_seq))
            except _Refused as exc:
                log.warning("session %s: re-activation refused: %s", self.sid, exc.message)
                if exc.close:  # e.g. evicted unstarted: the session is gone for good
                    with contextlib.suppress(Exception):
                        await self.send_error(exc.code, exc.message, always=True)
                    await self.ws.close(exc.close, exc.code)
                    return
                continue
            if err is None:
                self._heard()

    async def _decode_hello(self, frame: str | bytes) -> events.Hello | None:
        if isinstance(frame, bytes):
            await self.send_error("not_started", "send hello before audio", always=True)
            await self.ws.close(1008, "no hello")
            return None
        try:
            event = events.decode_client_event(frame)
        except BadMessage as exc:
            err = events.decode_error(exc)
            await self.send_error(err.code, err.message, always=True)
            await self.ws.close(1008, exc.code)
            return None
        if not isinstance(event, events.Hello):
            await self.send_error("not_started", "the first message must be hello", always=True)
            await self.ws.close(1008, "no hello")
            return None
        return event

    async def _open_session(self, hello: events.Hello) -> str:
        secret = self.gw.secret
        if hello.session_id is None:
            wait = self.gw.per_ip.take_session(self.ip)
            if wait:
                self.gw.metrics.inc("ws_refused_session_rate_total")
                raise _Refused(
                    "rate_limited",
                    f"too many new sessions from your address; try again in {wait:.0f} s",
                    CLOSE_POLICY,
                )
            self.sid = secrets.token_urlsafe(12)
            token = auth.sign(secret, self.sid)
            await self.gw.activate(self.sid, create=True)
            self.gw.metrics.inc("sessions_created_total")
            return token
        try:
            auth.verify(secret, hello.token or "", hello.session_id)
        except auth.TokenError as exc:
            raise _Refused("bad_token", str(exc), CLOSE_BAD_TOKEN) from None
        self.started = True  # resumed: the session node decides whether it ever started
        self.sid = hello.session_id
        self.last_seq = hello.last_seq
        await self.gw.activate(self.sid, create=False)
        self.gw.metrics.inc("sessions_resumed_total")
        return hello.token or ""

    async def _subscribe(self) -> None:
        nc = self.gw.nc

        async def on_event(msg: Any) -> None:
            try:
                seq = int(msgspec.json.decode(msg.data).get("seq", 0))
            except Exception:
                return
            self._heard()
            if seq <= self.last_seq:
                return  # already delivered: no duplicate on resume
            self.last_seq = seq
            if b'"type":"report"' in msg.data:
                self.finished = True  # nothing more to wait for: stop probing
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

    async def _reader(self) -> None:
        async for frame in self.ws:
            if isinstance(frame, bytes):
                await self._on_audio(frame)
            else:
                await self._on_text(frame)

    async def _on_audio(self, frame: bytes) -> None:
        if len(frame) % 2:
            await self.send_error("bad_message", "audio must be PCM16LE (even byte count)")
            return
        if not self.audio_bucket.take(len(frame)):
            self.gw.metrics.inc("ws_audio_rate_limited_bytes_total", len(frame))
            await self._violation("audio faster than real time")
            return
        self.gw.metrics.inc("ws_audio_bytes_total", len(frame))
        with contextlib.suppress(Exception):
            await self.gw.nc.publish(
                subjects.session_in(self.sid), frame, headers={subjects.HDR_AUDIO: "1"}
            )

    async def _on_text(self, frame: str) -> None:
        if not self.msg_bucket.take():
            self.gw.metrics.inc("ws_rate_limited_total")
            if not await self._violation("too many messages"):
                await self.send_error("rate_limited", "too many messages; slow down")
            return
        try:
            event = clean_event(events.decode_client_event(frame))
        except BadMessage as exc:
            bad = events.decode_error(exc)
            await self.send_error(bad.code, bad.message)
            return
        if isinstance(event, events.Hello | events.Attach | events.Detach | events.Probe):
            await self.send_error("bad_message", f"{type(event).__name__.lower()} not allowed here")
            return
        in_id = ""
        if isinstance(event, events.Start | events.AnswerText | events.End):
            self.sent_in += 1
            in_id = f"{self.conn_id}:{self.sent_in}"
        try:
            err = await self.gw.send_in(self.sid, event, in_id=in_id)
        except _Refused as exc:
            err = events.Error(code=exc.code, message=exc.message)
        if err is None:
            self._heard()
            if isinstance(event, events.Start):
                self.started = True
        else:
            await self.send_error(err.code, err.message)

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
