"""The WebSocket connection under the gateway: websockets' asyncio ``ServerConnection``,
with every parsed frame shown to the connection's :class:`edge.link.Link` first.

websockets answers pings by itself, inside ``data_received``, and hands the application
only whole messages, so a client that sends ping (or pong, or empty) frames as fast as it
can and never reads would cost the edge CPU and memory without the gateway ever seeing a
frame. Here:

- :meth:`EdgeConnection.process_event` counts **every** frame (control frames included)
  against the Link's frame budget before websockets queues or answers anything more;
  past the budget the connection is cut (:meth:`EdgeConnection.cut`);
- :meth:`EdgeConnection.data_received` feeds the protocol at most ``_SLICE`` bytes at a
  time, so one large read is not parsed whole before the budget can stop it, drops
  whatever arrives after a cut, and aborts a client that lets more than
  ``max_write_buffer`` bytes of its own pongs and events pile up unread;
- :meth:`EdgeConnection.cut` closes for abuse without waiting for the client: stop
  reading, send the error and the close frame if the socket takes them, and abort the TCP
  connection at once when it does not (the client is not reading), else after
  ``abuse_grace_s``.

Create the class for one edge with :func:`connection_class` and pass it to
``websockets.asyncio.server.serve(create_connection=...)``.
"""

from __future__ import annotations

__all__ = ["EdgeConnection", "connection_class"]

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Any, ClassVar, cast

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from bus import events
from edge.limits import Limits
from edge.link import Close, Count, FrameKind, Link

#: bytes fed to the WebSocket parser at once: a 64 KiB read of 6-byte pings would be
#: ~11,000 frames parsed (and answered) before the budget could look at the first
_SLICE = 8 * 1024

_KINDS = {
    Opcode.CONT: FrameKind.CONT,
    Opcode.TEXT: FrameKind.TEXT,
    Opcode.BINARY: FrameKind.BINARY,
    Opcode.PING: FrameKind.PING,
    Opcode.PONG: FrameKind.PONG,
    Opcode.CLOSE: FrameKind.CLOSE,
}

Counter = Callable[[str, int], None]


def _no_count(_metric: str, _amount: int) -> None:
    return None


class EdgeConnection(ServerConnection):
    """A server connection that owns its :class:`Link` (``self.link``)."""

    limits: ClassVar[Limits] = Limits()
    count: ClassVar[Counter] = staticmethod(_no_count)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.link = Link(self.limits, self.loop.time(), secrets.token_urlsafe(6))
        self._cut = False
        self._abort_timer: asyncio.TimerHandle | None = None

    @property
    def was_cut(self) -> bool:
        return self._cut

    def data_received(self, data: bytes) -> None:
        if self._cut:
            # being cut: nothing more is parsed, and reading stays paused (websockets
            # resumes it once the gateway has drained the messages queued before the cut)
            self.transport.pause_reading()
            return
        if len(data) <= _SLICE:
            super().data_received(data)
        else:
            view = memoryview(data)
            for start in range(0, len(data), _SLICE):
                super().data_received(bytes(view[start : start + _SLICE]))
                if self._cut:
                    return
        if self.transport.get_write_buffer_size() > self.limits.max_write_buffer:
            type(self).count("ws_slow_client_closed_total", 1)
            self._cut = True
            self.transport.abort()

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame):
            if self._cut:
                return
            actions = self.link.frame(_KINDS[event.opcode], len(event.data), self.loop.time())
            for action in actions:
                if isinstance(action, Count):
                    type(self).count(action.metric, action.amount)
                elif isinstance(action, Close):
                    self.cut(action.code, action.reason, action.error)
            if self._cut:
                return
        super().process_event(event)

    def cut(self, code: int, reason: str, error: events.Error | None = None) -> None:
        """Close for abuse without waiting for the client (see the module docstring)."""
        if self._cut:
            return
        self._cut = True
        with contextlib.suppress(Exception):
            self.transport.pause_reading()
        if self.protocol.state is State.OPEN:
            try:
                if error is not None:
                    self.protocol.send_text(events.encode(error))
                self.protocol.send_close(code, reason)
                self.send_data()
            except Exception:
                self.transport.abort()
                return
        if self.transport.get_write_buffer_size() > 0:
            self.transport.abort()  # it does not read: the close frame would never arrive
        else:
            self._abort_timer = self.loop.call_later(
                self.limits.abuse_grace_s, self.transport.abort
            )

    def connection_lost(self, exc: Exception | None) -> None:
        if self._abort_timer is not None:
            self._abort_timer.cancel()
        super().connection_lost(exc)


def connection_class(limits: Limits, count: Counter) -> type[EdgeConnection]:
    """An :class:`EdgeConnection` subclass bound to one edge's limits and metrics."""
    bound = type("BoundEdgeConnection", (EdgeConnection,), {})
    cls = cast("type[EdgeConnection]", bound)
    cls.limits = limits
    cls.count = staticmethod(count)
    return cls
