"""One NATS connection per process, with reconnect settings and logged state changes.

Every request made through this connection must pass a ``timeout``: nothing in Parley
awaits the network without a deadline.
"""

from __future__ import annotations

__all__ = ["DEFAULT_TIMEOUT", "connect"]

import logging

import nats
from nats.aio.client import Client

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0


async def connect(url: str, name: str, *, connect_timeout: float = 5.0) -> Client:
    """Connect to ``url`` (comma-separated for a cluster) and keep reconnecting forever.

    Raises on the first connect failing (``connect_timeout`` per attempt, a few attempts):
    a node that cannot reach NATS at start-up should fail loudly.
    """

    async def on_error(exc: Exception) -> None:
        log.warning("nats %s: %s", name, exc)

    async def on_disconnected() -> None:
        log.warning("nats %s: disconnected", name)

    async def on_reconnected() -> None:
        log.info("nats %s: reconnected", name)

    return await nats.connect(
        servers=[u.strip() for u in url.split(",") if u.strip()],
        name=name,
        connect_timeout=connect_timeout,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        ping_interval=5,
        max_outstanding_pings=3,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        pending_size=8 * 1024 * 1024,
    )
