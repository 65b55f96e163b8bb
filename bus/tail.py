"""Stream tails: one subject of a JetStream stream, in order, to a callback, cheaply.

A :class:`Tail` delivers every message stored on one subject of a stream, from a start
sequence, in stream order, once each, and carries on across gaps, lost consumers and
reconnects: the contract of nats-py's ordered consumer. That consumer runs two polling
tasks per subscription (a flow-control check every 250 ms and a heartbeat watchdog); a
node holding a thousand sessions (a tail on RESULTS per session actor, one on OUT per
edge connection) spent most of its event loop waking them. A tail has no task of its
own:

- an ephemeral push consumer without acks or flow control, in memory, one replica;
- each delivery's consumer sequence is checked: a gap (a message dropped by a slow
  subscription, a consumer recreated under us) re-creates the consumer from the last
  stream sequence delivered + 1;
- the server's idle heartbeats (every ``heartbeat`` s) prove the consumer alive, and
  carry the last consumer sequence, which catches a gap at the end of a burst;
- one :class:`Tails` registry per connection runs the only task: once a second it
  re-creates the tails that heard nothing for two heartbeats, and every tail after the
  connection reconnected (a restarted nats-server has forgotten in-memory consumers);
- in a cluster a consumer lives on one server, which need not be the one this
  connection uses: when that server dies the connection does not notice. Every
  ``probe`` s the task asks for the info of one consumer per hosting server; when that
  fails, every tail on that server is re-created (elsewhere) at once, instead of after
  two missed heartbeats. One small request per hosting server, not per tail.

The callback runs in the subscription's delivery task, one message at a time; messages
of a superseded consumer are ignored. Status messages never reach it.
"""

from __future__ import annotations

__all__ = ["Tail", "Tails"]

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from bus.tasks import cancel_and_wait

log = logging.getLogger(__name__)

OnMessage = Callable[[Msg], Awaitable[None]]

HEARTBEAT_S = 5.0
SWEEP_S = 1.0
#: how often each server hosting consumers is probed, and the probe's deadline
PROBE_S = 2.0
PROBE_TIMEOUT_S = 1.5
#: a consumer nobody listens to is removed by the server after this long
INACTIVE_S = 10.0
REQUEST_S = 2.0


def delivery_seqs(reply: str) -> tuple[int, int] | None:
    """(stream seq, consumer seq) from a delivery's ``$JS.ACK`` reply subject (the v1
    form, 9 tokens, or the v2 form with domain and account hash), else None."""
    tokens = reply.split(".")
    if len(tokens) < 9 or tokens[0] != "$JS" or tokens[1] != "ACK":
        return None
    at = 5 if len(tokens) == 9 else 7
    try:
        return int(tokens[at]), int(tokens[at + 1])
    except (IndexError, ValueError):
        return None


class Tail:
    """One subject of one stream, from ``start_seq`` (1 = the beginning). Create with
    :meth:`Tails.open`; end with :meth:`close`."""

    def __init__(
        self, tails: Tails, stream: str, subject: str, start_seq: int, cb: OnMessage
    ) -> None:
        self._tails = tails
        self.stream = stream
        self.subject = subject
        self._cb = cb
        #: stream sequence of the last message handed to the callback
        self.last_seq = max(0, start_seq - 1)
        self._cseq = 0  # consumer sequence of the last delivery of the current consumer
        self._gen = 0
        self._sub: Any = None
        #: the name of the current consumer (the server's; changes on every reset)
        self.consumer: str | None = None
        #: the server the current consumer lives on (None when the server did not say)
        self.host: str | None = None
        self._resetting = False
        self.closed = False
        self.resets = 0
        self.last_heard = 0.0

    async def _create(self) -> None:
        """Subscribe a fresh inbox, then create the consumer that pushes to it."""
        self._gen += 1
        gen = self._gen
        nc, js = self._tails.nc, self._tails.js
        old, self._sub = self._sub, None
        if old is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.unsubscribe(), REQUEST_S)
        self._cseq = 0
        inbox = nc.new_inbox()

        async def on_msg(msg: Msg) -> None:
            if gen == self._gen and not self.closed:
                await self._on_msg(msg)

        sub = await nc.subscribe(inbox, cb=on_msg)
        start = self.last_seq + 1
        config = api.ConsumerConfig(
            deliver_subject=inbox,
            filter_subject=self.subject,
            deliver_policy=(
                api.DeliverPolicy.BY_START_SEQUENCE if start > 1 else api.DeliverPolicy.ALL
            ),
            opt_start_seq=start if start > 1 else None,
            ack_policy=api.AckPolicy.NONE,
            max_deliver=1,
            idle_heartbeat=self._tails.heartbeat,
            flow_control=False,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=INACTIVE_S,
        )
        try:
            info = await js.add_consumer(self.stream, config=config, timeout=REQUEST_S)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sub.unsubscribe(), REQUEST_S)
            raise
        self._sub = sub
        self.consumer = info.name
        self.host = info.cluster.leader if info.cluster is not None else None
        self.last_heard = self._tails.now()

    async def _on_msg(self, msg: Msg) -> None:
        self.last_heard = self._tails.now()
        headers = msg.headers
        if headers and headers.get(api.Header.STATUS) is not None:
            # an idle heartbeat: it names the last consumer sequence sent to us
            last = headers.get(api.Header.LAST_CONSUMER)
            if last is not None and last.isdigit() and int(last) > self._cseq:
                self.reset("heartbeat shows a missed message")
            return
        if not msg.reply:
            return
        seqs = delivery_seqs(msg.reply)
        if seqs is None:
            log.warning("tail %s: delivery without metadata (%s)", self.subject, msg.reply)
            return
        sseq, cseq = seqs
        if cseq != self._cseq + 1:
            self.reset(f"gap: consumer seq {cseq} after {self._cseq}")
            return
        self._cseq = cseq
        if sseq <= self.last_seq:
            return  # delivered already (before a reset)
        self.last_seq = sseq
        try:
            await self._cb(msg)
        except Exception:
            log.exception("tail %s: callback failed", self.subject)

    def reset(self, why: str) -> None:
        """Re-create the consumer from ``last_seq + 1`` (in the background, retried)."""
        if self._resetting or self.closed:
            return
        self._resetting = True
        self.resets += 1
        self._gen += 1  # ignore the old consumer from now on
        log.info("tail %s: resetting (%s) from seq %d", self.subject, why, self.last_seq + 1)
        self._tails.spawn(self._reset_loop())

    async def _reset_loop(self) -> None:
        delay = 0.1
        try:
            while not self.closed:
                try:
                    await self._create()
                    return
                except Exception as exc:
                    log.debug("tail %s: re-create failed: %r", self.subject, exc)
                    await asyncio.sleep(delay)
                    delay = min(2.0, delay * 2)
        finally:
            self._resetting = False

    @property
    def live(self) -> bool:
        """Has a consumer and is not being re-created or closed."""
        return not self._resetting and not self.closed and self.consumer is not None

    def stale(self, now: float) -> bool:
        return (
            not self._resetting
            and not self.closed
            and now - self.last_heard > 2 * self._tails.heartbeat + SWEEP_S
        )

    async def close(self) -> None:
        """Stop delivering; the server drops the consumer once nobody listens."""
        if self.closed:
            return
        self.closed = True
        self._gen += 1
        self._tails.forget(self)
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sub.unsubscribe(), REQUEST_S)


class Tails:
    """Every tail of one connection, and the one task that watches them."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext | None = None,
        *,
        heartbeat: float = HEARTBEAT_S,
        probe: float = PROBE_S,
    ) -> None:
        self.nc = nc
        self.js = js or nc.jetstream()
        self.heartbeat = heartbeat
        self.probe = probe
        self._probed = 0.0
        #: hosts found unreachable by a probe (for tests and logs)
        self.lost_hosts = 0
        self._tails: set[Tail] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None
        self._reconnects = int(nc.stats.get("reconnects", 0))

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    def __len__(self) -> int:
        return len(self._tails)

    async def open(self, stream: str, subject: str, start_seq: int, cb: OnMessage) -> Tail:
        """Start delivering ``subject`` from ``start_seq``. Raises if the consumer cannot
        be created (bounded by the request timeout)."""
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._sweep(), name="tails-sweep")
        tail = Tail(self, stream, subject, start_seq, cb)
        await tail._create()
        self._tails.add(tail)
        return tail

    def forget(self, tail: Tail) -> None:
        self._tails.discard(tail)

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep(self) -> None:
        while not self.nc.is_closed:
            await asyncio.sleep(SWEEP_S)
            reconnects = int(self.nc.stats.get("reconnects", 0))
            if reconnects != self._reconnects:
                self._reconnects = reconnects
                for tail in list(self._tails):
                    tail.reset("reconnected")
                continue
            now = self.now()
            for tail in list(self._tails):
                if tail.stale(now):
                    tail.reset("no heartbeat")
            if now - self._probed >= self.probe:
                self._probed = now
                await self._probe_hosts()

    async def _probe_hosts(self) -> None:
        """Ask one consumer per hosting server for its info; re-create every tail on a
        server that does not answer."""
        by_host: dict[str, list[Tail]] = {}
        for tail in self._tails:
            if tail.live and tail.host:
                by_host.setdefault(tail.host, []).append(tail)
        if len(by_host) < 2 and not self._clustered():
            return  # one server: a dead one is a reconnect, seen above
        hosts = list(by_host)
        answers = await asyncio.gather(
            *(self._ask(by_host[h][0]) for h in hosts), return_exceptions=True
        )
        for host, answer in zip(hosts, answers, strict=True):
            if isinstance(answer, asyncio.CancelledError):
                raise answer
            if answer is True:
                continue
            self.lost_hosts += 1
            log.warning(
                "tails: consumers on %s unreachable (%r); re-creating %d",
                host,
                answer,
                len(by_host[host]),
            )
            for tail in by_host[host]:
                tail.reset(f"host {host} unreachable")

    async def _ask(self, tail: Tail) -> bool:
        consumer = tail.consumer
        if consumer is None or not tail.live:
            return True
        await self.js.consumer_info(tail.stream, consumer, timeout=PROBE_TIMEOUT_S)
        return True

    def _clustered(self) -> bool:
        info = getattr(self.nc, "_server_info", None) or {}
        return bool(info.get("cluster") or info.get("connect_urls"))

    async def close(self) -> None:
        """Close every tail and stop watching."""
        for tail in list(self._tails):
            await tail.close()
        tasks = [*self._tasks, *([self._watch] if self._watch else [])]
        await cancel_and_wait(tasks)
