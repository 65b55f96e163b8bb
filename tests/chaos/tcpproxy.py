"""A TCP proxy on loopback for fault tests: it forwards every connection to one upstream
address and, on demand, breaks them the ways a network or a restarting server does.

- :meth:`TcpProxy.cut` resets every live connection, both sides, at once;
- :meth:`TcpProxy.cut_when` does it the moment a request carrying some bytes goes by:
  before the server sees it, or once the server has answered it (the answer is lost);
- :meth:`TcpProxy.refuse` closes the listening socket: ``connect()`` fails at once;
- :meth:`TcpProxy.stall` accepts new connections but forwards nothing yet;
- :meth:`TcpProxy.resume` undoes either; stalled connections then reach the upstream.

Start it with :meth:`TcpProxy.start` and always :meth:`TcpProxy.close` it: every
connection and task it made is gone after that.
"""

from __future__ import annotations

__all__ = ["Cut", "TcpProxy"]

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass

#: SO_LINGER on, zero seconds: ``close()`` sends RST instead of FIN.
_LINGER_RST = struct.pack("ii", 1, 0)
_CHUNK = 65536


@dataclass(frozen=True)
class Cut:
    """What one cut did: connections reset, and how many of them awaited an answer."""

    connections: int
    mid_request: int


@dataclass(eq=False)
class _Trap:
    needle: bytes
    reply_lost: bool
    sprung: asyncio.Future[Cut]


@dataclass(eq=False)
class _Link:
    """One accepted connection and, once made, its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    #: bytes went upstream and no answer came back yet
    awaiting_reply: bool = False
    #: a trapped request went upstream on this link: cut at its answer
    trapped: _Trap | None = None

    def reset(self) -> None:
        for w in (self.client, self.upstream):
            if w is None or w.transport.is_closing():
                continue
            sock = w.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            w.transport.abort()


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream_host:upstream_port``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._trap: _Trap | None = None
        self._closed = False

    async def start(self) -> None:
        """Listen on a free loopback port (``self.port``), or on the same one again."""
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> Cut:
        """Reset every live connection (client and upstream side) now."""
        links = list(self._links)
        busy = sum(link.awaiting_reply for link in links)
        for link in links:
            link.reset()
        return Cut(len(links), busy)

    async def cut_when(self, needle: bytes, *, reply_lost: bool = False) -> Cut:
        """Wait for a chunk going upstream that contains ``needle``, then :meth:`cut`.

        The chunk is dropped (the server never sees the request), or, with ``reply_lost``,
        forwarded and the cut made when the server's answer comes back, which is dropped:
        the server did the work, the client cannot know. Cancel to disarm."""
        trap = _Trap(needle, reply_lost, asyncio.get_running_loop().create_future())
        self._trap = trap
        try:
            return await trap.sprung
        finally:
            if self._trap is trap:
                self._trap = None

    def refuse(self) -> None:
        """Stop listening: new connections are refused until :meth:`resume`."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def stall(self) -> None:
        """Accept new connections but forward nothing until :meth:`resume`."""
        self._flowing.clear()

    async def resume(self) -> None:
        """Forward again: listen if refusing, let stalled connections through."""
        if self._server is None:
            await self.start()
        self._flowing.set()

    async def close(self) -> None:
        """Stop listening, reset every connection, wait for every task to end."""
        self._closed = True
        self.refuse()
        self._flowing.set()
        self.cut()
        if self._handlers:
            _done, slow = await asyncio.wait(list(self._handlers), timeout=5.0)
            for task in slow:
                task.cancel()
            await asyncio.gather(*slow, return_exceptions=True)

    def _spring(self, trap: _Trap) -> None:
        self._trap = None
        result = self.cut()
        if not trap.sprung.done():
            trap.sprung.set_result(result)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        link = _Link(writer)
        self._links.add(link)
        try:
            await self._flowing.wait()
            if self._closed or writer.transport.is_closing():  # cut while stalled
                return
            up_reader, link.upstream = await asyncio.open_connection(*self.upstream)
            if self._closed:
                return
            await asyncio.gather(
                self._pipe(reader, link.upstream, link, True),
                self._pipe(up_reader, writer, link, False),
            )
        except OSError:
            pass  # a cut, a refused upstream or a peer gone: the link ends either way
        except asyncio.CancelledError:
            # only close() cancels, as a last resort; the stream protocol's done callback
            # would report a cancelled handler as an error
            pass
        finally:
            link.reset()
            self._links.discard(link)
            self._handlers.discard(task)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, link: _Link, to_upstream: bool
    ) -> None:
        try:
            while data := await src.read(_CHUNK):
                trap = self._trap
                if trap is not None:
                    if to_upstream and trap.needle in data:
                        link.awaiting_reply = True
                        if not trap.reply_lost:
                            self._spring(trap)
                            return
                        link.trapped = trap
                    elif not to_upstream and link.trapped is trap:
                        self._spring(trap)
                        return
                link.awaiting_reply = to_upstream
                dst.write(data)
                await dst.drain()
        except OSError:
            pass  # reset by a cut or by the peer
        finally:
            # one side ended (EOF or reset): end the other abruptly too
            link.reset()
