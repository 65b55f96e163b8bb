"""The session's ordered output: client events to the OUT stream, audio to the client.

One per actor. :meth:`Outbox.put` never blocks (the queue is bounded: when it is full,
audio is dropped before events, since text is what the client must not miss); one task
runs :meth:`Outbox.run` and sends in order. :meth:`Outbox.sent_up_to` tells when every
event up to a seq has left (sent, or given up on after ``OUT_PUBLISH_S``): a snapshot
claims those events, so it waits for them.
"""

from __future__ import annotations

__all__ = ["OUT_PUBLISH_S", "OUT_QUEUE", "Outbox"]

import asyncio
import contextlib
import logging

from actors.session import commands as cmd
from actors.session.seam import SessionBus
from bus import audio, events

log = logging.getLogger(__name__)

OUT_QUEUE = 4096
#: an event the client must see is retried this long (a cluster re-electing a stream
#: leader takes seconds); given up, it is a gap at the client
OUT_PUBLISH_S = 15.0

Out = cmd.Emit | cmd.EmitAudio


class Outbox:
    def __init__(self, sid: str, bus: SessionBus, sent_seq: int, maxsize: int = OUT_QUEUE) -> None:
        self.sid = sid
        self.bus = bus
        self._queue: asyncio.Queue[Out] = asyncio.Queue(maxsize)
        #: every event up to this seq is in the OUT stream (or was given up on)
        self.sent_seq = sent_seq
        self._sent = asyncio.Event()
        self.dropped = 0

    def put(self, c: Out) -> None:
        if self._queue.full():
            self.dropped += 1
            if isinstance(c, cmd.EmitAudio):
                return
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
        self._queue.put_nowait(c)

    async def join(self) -> None:
        """Until everything put so far has been sent or given up on."""
        await self._queue.join()

    async def sent_up_to(self, seq: int, timeout: float) -> None:
        """Wait (at most ``timeout``) until every event up to ``seq`` has left."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.sent_seq < seq and loop.time() < end:
            self._sent.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._sent.wait(), end - loop.time())

    async def run(self) -> None:
        """Send, in order, until cancelled."""
        while True:
            c = await self._queue.get()
            seq = c.event.seq if isinstance(c, cmd.Emit) else 0
            try:
                if isinstance(c, cmd.Emit):
                    await self.bus.publish_event(
                        self.sid, seq, events.encode(c.event), OUT_PUBLISH_S
                    )
                else:
                    await self.bus.publish_audio(
                        self.sid, audio.encode_frame(c.turn, c.chunk, c.sample_rate, c.pcm)
                    )
            except Exception as exc:
                self.dropped += 1
                log.warning("session %s: output lost: %r", self.sid, exc)
            finally:
                if seq > self.sent_seq:
                    self.sent_seq = seq
                    self._sent.set()
                self._queue.task_done()
