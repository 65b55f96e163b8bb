"""The edge role: the WebSocket gateway and the HTTP surface on one port."""

from __future__ import annotations

__all__ = ["Edge"]

import logging
from typing import Any

import asyncpg
from nats.aio.client import Client
from websockets.asyncio.server import Server, serve

from edge.gateway import Gateway
from edge.http import HttpRoutes
from edge.limits import Limits
from edge.metrics import Metrics

log = logging.getLogger(__name__)


class Edge:
    """Start with :meth:`start`; :attr:`port` is the bound port (0 picks a free one)."""

    def __init__(self, nc: Client, pool: asyncpg.Pool | None, secret: bytes, *,
                 host: str = "127.0.0.1", port: int = 8080, limits: Limits | None = None,
                 required_services: tuple[str, ...] | None = None) -> None:
        self.metrics = Metrics()
        self.limits = limits or Limits()
        self.gateway = Gateway(nc, secret, self.metrics, self.limits)
        kwargs: dict[str, Any] = {}
        if required_services is not None:
            kwargs["required_services"] = required_services
        self.routes = HttpRoutes(nc, pool, secret, self.metrics, gauges=self._gauges, **kwargs)
        self.host = host
        self.port = port
        self.server: Server | None = None

    def _gauges(self) -> dict[str, float]:
        return {"ws_connections": float(self.gateway.connections)}

    async def start(self) -> None:
        self.server = await serve(
            self.gateway.handler, self.host, self.port,
            process_request=self.routes,
            max_size=self.limits.max_frame_bytes,
            max_queue=32,
            # No permessage-deflate: most frames are PCM audio, which barely compresses,
            # and each deflate context costs ~300 KiB of native memory per connection
            # (and, freed and reallocated at every reconnect, fragments the heap).
            compression=None,
            ping_interval=10.0,
            ping_timeout=20.0,
            close_timeout=5.0,
            open_timeout=10.0,
        )
        sock = next(iter(self.server.sockets))
        self.port = int(sock.getsockname()[1])
        log.info("edge listening on http://%s:%d", self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await self.gateway.tails.close()
