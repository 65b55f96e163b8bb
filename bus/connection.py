"""One NATS connection per process, with reconnect settings and logged state changes.

Every request made through this connection must pass a ``timeout``: nothing in Parley
awaits the network without a deadline.

Credentials travel in the URL (``nats://user:password@host:port``, see :mod:`bus.auth`);
a connection as user ``U`` uses the reply-inbox prefix ``_INBOX_U``, the only inboxes that
user may subscribe to. TLS: ``tls://`` URLs; ``tls_ca`` names a PEM file of the CA that
signed the servers' certificates (``PARLEY_NATS_CA``; else the system's CAs are trusted).
"""

from __future__ import annotations

__all__ = ["DEFAULT_TIMEOUT", "NatsAuthError", "connect"]

import contextlib
import logging
import ssl
from pathlib import Path

import nats
import nats.errors
from nats.aio.client import Client

from bus.auth import inbox_prefix, url_credentials
from bus.errors import NatsAuthError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0


def _is_auth_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in text


async def connect(
    url: str, name: str, *, connect_timeout: float = 5.0, tls_ca: str | Path | None = None
) -> Client:
    """Connect to ``url`` (comma-separated for a cluster) and keep reconnecting forever.
    ``tls_ca``: the CA file that signed the servers' certificates (``PARLEY_NATS_CA``);
    TLS is used with it or for ``tls://`` URLs (then with the system's CAs).

    Raises on the first connect failing (``connect_timeout`` per attempt, a few attempts):
    a node that cannot reach NATS at start-up should fail loudly. Raises
    :class:`NatsAuthError` at once when the server refuses the credentials.
    """
    servers = [u.strip() for u in url.split(",") if u.strip()]
    # as options as well: the members a cluster announces (and reconnects go to) carry no
    # userinfo, and nats-py prefers these options to a URL's
    user, password = url_credentials(url)
    tls: ssl.SSLContext | None = None
    if any(u.startswith("tls://") for u in servers) or tls_ca:
        tls = ssl.create_default_context(cafile=str(tls_ca) if tls_ca else None)

    connected_once = False

    async def on_error(exc: Exception) -> None:
        log.warning("nats %s: %s", name, exc)
        if not connected_once and _is_auth_error(exc):
            # raised through nats-py's connect loop, which would otherwise retry forever
            raise NatsAuthError(f"nats {name}: credentials refused ({exc})")

    async def on_disconnected() -> None:
        log.warning("nats %s: disconnected", name)

    async def on_reconnected() -> None:
        log.info("nats %s: reconnected", name)

    nc = Client()
    try:
        await nc.connect(
            servers=servers,
            name=name,
            inbox_prefix=inbox_prefix(user),
            user=user,
            password=password,
            tls=tls,
            # nats-py annotates these two as int; both are used as float seconds
            connect_timeout=connect_timeout,  # type: ignore[arg-type]
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,  # type: ignore[arg-type]
            ping_interval=5,
            max_outstanding_pings=3,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            pending_size=8 * 1024 * 1024,
        )
    except NatsAuthError:
        with contextlib.suppress(Exception):
            await nc.close()
        raise
    connected_once = True
    return nc
