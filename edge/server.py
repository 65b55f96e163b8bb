"""The edge role: the WebSocket gateway and the HTTP surface on one port, and the
internal port (loopback by default) with ``/healthz``, ``/readyz`` and ``/metrics``.

Before a WebSocket upgrade on ``/ws`` is accepted (:meth:`Edge.admit`): a foreign
``Origin`` gets 403; an address over its connection limit gets 429 with ``Retry-After``;
an edge at ``max_connections``, or whose session nodes all said "busy" moments ago, gets
503 with ``Retry-After`` (a plain ``GET /ws`` gets the same answer, which is how the page
learns why its socket could not open)."""

from __future__ import annotations

__all__ = ["Edge"]

import asyncio
import logging
from typing import Any

import asyncpg
from nats.aio.client import Client
from nats.js.object_store import ObjectStore
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from edge.admission import origin_allowed
from edge.gateway import Gateway, client_ip
from edge.http import HttpRoutes, json_response, text_response
from edge.limits import Limits
from edge.metrics import Metrics
from edge.tokens import Tokens
from edge.warming import WarmingWatch
from edge.wsconn import connection_class

log = logging.getLogger(__name__)


class Edge:
    """Start with :meth:`start`; :attr:`port` is the bound port (0 picks a free one)."""

    def __init__(
        self,
        nc: Client,
        pool: asyncpg.Pool | None,
        secret: bytes,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        limits: Limits | None = None,
        required_services: tuple[str, ...] | None = None,
        metrics_host: str = "127.0.0.1",
        metrics_port: int | None = None,
        replay: ObjectStore | None = None,
        warming_poll_s: float = 2.0,
    ) -> None:
        """``metrics_port`` (0 picks one): the internal port, serving ``/readyz`` and
        ``/metrics`` (never on ``port``); None: no internal port. ``warming_poll_s``: how
        often the edge looks which model roles are ready (the pages' warming banner)."""
        self.metrics = Metrics()
        self.limits = limits or Limits()
        self.tokens = Tokens(secret, pool, session_ttl_s=self.limits.session_token_s)
        self.gateway = Gateway(nc, self.tokens, self.metrics, self.limits)
        kwargs: dict[str, Any] = {}
        if required_services is not None:
            kwargs["required_services"] = required_services
        self.routes = HttpRoutes(
            nc,
            pool,
            self.tokens,
            self.metrics,
            gauges=self._gauges,
            admit=self.admit,
            replay=replay,
            allowed_hosts=self.limits.allowed_hosts,
            **kwargs,
        )
        # which model roles are warming up: told to every connected page
        self.warming = WarmingWatch(self.routes.warming, period_s=max(0.05, warming_poll_s))
        self.gateway.warming = self.warming
        self.host = host
        self.port = port
        self.metrics_host = metrics_host
        self.metrics_port = metrics_port
        self.server: Server | None = None
        self.metrics_server: Server | None = None

    def admit(self, conn: ServerConnection, request: Request) -> Response | None:
        """None to let a ``/ws`` handshake proceed, else the refusal (see module doc)."""
        headers = request.headers
        if not origin_allowed(
            headers.get("Origin"), headers.get("Host"), self.limits.allowed_origins
        ):
            self.metrics.inc("ws_refused_origin_total")
            return text_response(403, "origin not allowed\n")
        ip = client_ip(conn)
        if not self.gateway.per_ip.may_connect(ip):
            self.metrics.inc("ws_refused_per_ip_total")
            return json_response(
                429, {"error": "rate_limited", "retry_after": 30}, {"Retry-After": "30"}
            )
        blocked = round(self.gateway.per_ip.blocked_for(ip))
        if blocked:
            self.metrics.inc("ws_refused_abuse_total")
            return json_response(
                429,
                {"error": "rate_limited", "retry_after": blocked},
                {"Retry-After": str(blocked)},
            )
        wait = self._full_for()
        if wait:
            self.metrics.inc("ws_refused_full_total")
            return json_response(
                503, {"error": "full", "retry_after": wait}, {"Retry-After": str(wait)}
            )
        return None

    def _full_for(self) -> int:
        """Seconds a new client should wait, 0 if there is room."""
        limits = self.limits
        if limits.max_connections and self.gateway.connections >= limits.max_connections:
            return limits.busy_retry_after_s
        left = self.gateway.full_until - asyncio.get_running_loop().time()
        return max(1, round(left)) if left > 0 else 0

    def _gauges(self) -> dict[str, float]:
        return {"ws_connections": float(self.gateway.connections)}

    async def start(self) -> None:
        await self.warming.start()
        self.server = await serve(
            self.gateway.handler,
            self.host,
            self.port,
            process_request=self.routes,
            max_size=self.limits.max_frame_bytes,
            max_queue=32,
            # every frame is counted by the connection's Link as it is parsed
            create_connection=connection_class(self.limits, self.metrics.inc),
            # No permessage-deflate: most frames are PCM audio, which barely compresses,
            # and each deflate context costs ~300 KiB of native memory per connection
            # (and, freed and reallocated at every reconnect, fragments the heap).
            compression=None,
            ping_interval=10.0,
            ping_timeout=20.0,
            close_timeout=5.0,
            open_timeout=10.0,
            server_header="Parley",
        )
        sock = next(iter(self.server.sockets))
        self.port = int(sock.getsockname()[1])
        log.info("edge listening on http://%s:%d", self.host, self.port)
        if self.metrics_port is not None:
            self.metrics_server = await serve(
                self.gateway.handler,
                self.metrics_host,
                self.metrics_port,
                process_request=self.routes.internal,
                server_header="Parley",
                open_timeout=10.0,
                max_size=1024,
            )
            sock = next(iter(self.metrics_server.sockets))
            self.metrics_port = int(sock.getsockname()[1])
            log.info(
                "internal port http://%s:%d (/healthz, /readyz, /metrics)",
                self.metrics_host,
                self.metrics_port,
            )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        for server in (self.metrics_server, self.server):
            if server is not None:
                server.close()
                await server.wait_closed()
        await self.warming.stop()
        await self.gateway.tails.close()
