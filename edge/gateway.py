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
from edge.limits import Limits, TokenBucket
from edge.metrics import Metrics

log = logging.getLogger(__name__)

HDR_AUDIO = "Parley-Audio"
CLOSE_BAD_TOKEN = 4401
CLOSE_UNKNOWN = 4404
CLOSE_SLOW = 1013


class _Refused(Exception):
    def __init__(self, code: str, message: str, close: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close = close




class Gateway:
    """Serves WebSocket connections; ``handler`` is what ``websockets.serve`` calls."""

    def __init__(self, nc: Client, secret: bytes, metrics: Metrics,
                 limits: Limits | None = None) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.tails = Tails(nc, self.js)
        self.secret = secret
        self.metrics = metrics
        self.limits = limits or Limits()
        self.connections = 0

    # --- bus helpers ---------------------------------------------------------------------

    async def activate(self, sid: str, *, create: bool) -> None:
        """Make sure some session node owns ``sid``; raise _Refused otherwise."""
        payload = activation.encode(activation.ActivateRequest(session_id=sid, create=create))
        last = "unavailable"
        for attempt in range(6):
            try:
                msg = await self.nc.request(subjects.ACTIVATE, payload, timeout=5.0)
                reply = activation.decode_reply(msg.data)
            except (TimeoutError, nats.errors.NoRespondersError, nats.errors.TimeoutError,
                    msgspec.DecodeError) as exc:
                last = f"no session node answered ({type(exc).__name__})"
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if reply.ok:
                return
            if reply.code == "unknown_session":
                raise _Refused("unknown_session", "no such session", CLOSE_UNKNOWN)
            last = reply.message or reply.code
            await asyncio.sleep(0.2 * (attempt + 1))
        raise _Refused("unavailable", f"session could not be activated: {last}")

    async def send_in(self, sid: str, event: events.ClientEvent, budget: float = 15.0,
                      in_id: str = "") -> events.Error | None:
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
        self.connections += 1
        self.metrics.inc("ws_connections_total")
        conn = _Connection(self, ws)
        try:
            await conn.run()
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self.connections -= 1
            await conn.close()


class _Connection:
    def __init__(self, gw: Gateway, ws: ServerConnection) -> None:
        self.gw = gw
        self.ws = ws
        self.limits = gw.limits
        self.sid = ""
        self.last_seq = 0
        self.out: asyncio.Queue[str | bytes | None] = asyncio.Queue(self.limits.outbound_queue)
        self.subs: list[Any] = []
        self.out_tail: Tail | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.msg_bucket = TokenBucket(self.limits.messages_per_s, self.limits.message_burst)
        self.audio_bucket = TokenBucket(self.limits.audio_bytes_per_s,
                                        self.limits.audio_burst_bytes)
        self.attached = False
        self.last_heard = 0.0
        self.finished = False
        self.conn_id = secrets.token_urlsafe(6)
        self.sent_in = 0

    async def send_error(self, code: str, message: str) -> None:
        self.gw.metrics.inc(f'ws_errors_total{{code="{code}"}}')
        await asyncio.wait_for(
            self.ws.send(events.encode(events.Error(code=code, message=message)).decode()),
            self.limits.send_timeout_s,
        )

    async def run(self) -> None:
        try:
            first = await asyncio.wait_for(self.ws.recv(), self.limits.hello_timeout_s)
        except TimeoutError:
            await self.send_error("bad_message", "send hello first")
            await self.ws.close(1008, "no hello")
            return
        hello = await self._decode_hello(first)
        if hello is None:
            return
        try:
            token = await self._open_session(hello)
        except _Refused as exc:
            await self.send_error(exc.code, exc.message)
            if exc.close:
                await self.ws.close(exc.close, exc.code)
            return
        await self._subscribe()
        self.tasks.append(asyncio.create_task(self._writer(), name=f"ws-writer-{self.sid}"))
        await self._put(events.encode(events.Ready(
            session_id=self.sid, token=token, resumed=hello.session_id is not None)).decode())
        err = await self.gw.send_in(self.sid, events.Attach(last_seq=self.last_seq))
        self.attached = err is None
        self._heard()
        self.tasks.append(asyncio.create_task(self._watch_owner(), name=f"ws-owner-{self.sid}"))
        await self._reader()

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
                continue
            if err is None:
                self._heard()

    async def _decode_hello(self, frame: str | bytes) -> events.Hello | None:
        if isinstance(frame, bytes):
            await self.send_error("not_started", "send hello before audio")
            await self.ws.close(1008, "no hello")
            return None
        try:
            event = events.decode_client_event(frame)
        except BadMessage as exc:
            await self.send_error(exc.code, exc.reason)
            await self.ws.close(1008, exc.code)
            return None
        if not isinstance(event, events.Hello):
            await self.send_error("not_started", "the first message must be hello")
            await self.ws.close(1008, "no hello")
            return None
        return event

    async def _open_session(self, hello: events.Hello) -> str:
        secret = self.gw.secret
        if hello.session_id is None:
            self.sid = secrets.token_urlsafe(12)
            token = auth.sign(secret, self.sid)
            await self.gw.activate(self.sid, create=True)
            self.gw.metrics.inc("sessions_created_total")
            return token
        try:
            auth.verify(secret, hello.token or "", hello.session_id)
        except auth.TokenError as exc:
            raise _Refused("bad_token", str(exc), CLOSE_BAD_TOKEN) from None
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
            subjects.STREAM_OUT, subjects.session_out(self.sid), 1, on_event)
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
            return
        self.gw.metrics.inc("ws_audio_bytes_total", len(frame))
        with contextlib.suppress(Exception):
            await self.gw.nc.publish(subjects.session_in(self.sid), frame,
                                     headers={HDR_AUDIO: "1"})

    async def _on_text(self, frame: str) -> None:
        if not self.msg_bucket.take():
            self.gw.metrics.inc("ws_rate_limited_total")
            await self.send_error("rate_limited", "too many messages; slow down")
            return
        try:
            event = events.decode_client_event(frame)
        except BadMessage as exc:
            await self.send_error(exc.code, exc.reason)
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
                    self.gw.nc.publish(subjects.session_in(self.sid),
                                       events.encode(events.Detach())), 1.0)
