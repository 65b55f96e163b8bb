"""Admission control at the edge: who may open a WebSocket and a new session.

- :func:`origin_allowed`: a browser's ``Origin`` must be the page's own origin (the
  request's ``Host``) or one configured explicitly; ``null`` and foreign origins are
  refused. A request without ``Origin`` is not from a browser page and is let through (a
  non-browser client can send any header; the Origin check protects visitors' browsers).
- :class:`PerIp`: concurrent connections and new sessions per minute per client address
  (the TCP peer: behind a proxy, the proxy's address; see docs/operating.md), keyed by
  :func:`address_key`: an IPv6 client by its /64, which one subscriber usually holds
  whole (an address per connection would otherwise evade every limit). Its state is
  bounded: addresses with nothing open and no recent session are forgotten.
"""

from __future__ import annotations

__all__ = ["PerIp", "address_key", "header_problem", "host_allowed", "origin_allowed"]

import ipaddress
import re
import time
import urllib.parse
from collections import deque

from websockets.datastructures import Headers

_HOST = re.compile(r"^(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?$")


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """True when a request's ``Host`` names this edge: an IP literal, ``localhost``, or
    one of ``allowed`` (names, any port; ``*``: any name). A page on another name that
    resolves to this address (DNS rebinding) is refused."""
    m = _HOST.fullmatch(host.strip())
    if m is None:
        return False
    name = m["name"].lower().rstrip(".")
    if "*" in allowed or name == "localhost":
        return True
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        pass
    return name in (a.lower().rstrip(".") for a in allowed)


def header_problem(headers: Headers, allowed_hosts: tuple[str, ...]) -> str | None:
    """Why a request's headers are refused (400), or None: ``Host`` missing, repeated or
    not this edge's (:func:`host_allowed`); ``Origin`` repeated."""
    hosts = headers.get_all("Host")
    if len(hosts) != 1:
        return f"{len(hosts)} Host headers"
    if not host_allowed(hosts[0], allowed_hosts):
        return f"Host {hosts[0][:80]!r} is not one of this edge's names"
    if len(headers.get_all("Origin")) > 1:
        return "several Origin headers"
    return None


def address_key(address: str) -> str:
    """The key the per-address limits count ``address`` under: an IPv4 address as is
    (also written IPv4-mapped, ``::ffff:a.b.c.d``), an IPv6 address by its /64 network
    (``2001:db8:1:2::/64``); anything else as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """True when a handshake with this ``Origin`` header may proceed (see module doc).
    ``allowed`` holds full origins (``https://interview.example.com``) or ``*``."""
    if origin is None:
        return True
    origin = origin.strip().lower()
    if "*" in allowed or origin in (a.lower().rstrip("/") for a in allowed):
        return True
    if not host:
        return False
    url = urllib.parse.urlsplit(origin)
    if url.scheme not in ("http", "https") or not url.netloc or url.path or url.query:
        return False
    default = "80" if url.scheme == "http" else "443"
    return _hostport(url.netloc, default) == _hostport(host.strip().lower(), default)


def _hostport(netloc: str, default_port: str) -> str:
    if netloc.endswith("]") or ":" not in netloc.rsplit("]", 1)[-1]:
        return f"{netloc}:{default_port}"
    return netloc


class PerIp:
    """Counts per client address (:func:`address_key`). ``max_connections``,
    ``sessions_per_min`` and ``abuse_strikes`` of 0 mean no limit. Call
    :meth:`opened`/:meth:`closed` around a connection, :meth:`take_session` before
    creating a session, and :meth:`struck` when a connection was cut for abuse: an
    address cut ``abuse_strikes`` times within a minute may not connect for
    ``abuse_block_s``."""

    def __init__(
        self,
        max_connections: int,
        sessions_per_min: int,
        max_addresses: int = 100_000,
        *,
        abuse_strikes: int = 0,
        abuse_block_s: float = 60.0,
    ) -> None:
        self.max_connections = max_connections
        self.sessions_per_min = sessions_per_min
        self.max_addresses = max_addresses
        self.abuse_strikes = abuse_strikes
        self.abuse_block_s = abuse_block_s
        self.open: dict[str, int] = {}
        self.recent: dict[str, deque[float]] = {}
        self.strikes: dict[str, deque[float]] = {}

    def may_connect(self, ip: str) -> bool:
        return not self.max_connections or self.open.get(ip, 0) < self.max_connections

    def blocked_for(self, ip: str, now: float | None = None) -> float:
        """Seconds ``ip`` may not connect because its connections were cut for abuse."""
        if not self.abuse_strikes or ip not in self.strikes:
            return 0.0
        now = time.monotonic() if now is None else now
        window = self._window(self.strikes, ip, now, self.abuse_block_s)
        if len(window) < self.abuse_strikes:
            return 0.0
        return max(1.0, window[-1] + self.abuse_block_s - now)

    def struck(self, ip: str, now: float | None = None) -> None:
        """Record that a connection from ``ip`` was cut for abuse."""
        if self.abuse_strikes:
            now = time.monotonic() if now is None else now
            self._window(self.strikes, ip, now, self.abuse_block_s).append(now)

    def opened(self, ip: str) -> bool:
        """Count a connection; False (and not counted) when ``ip`` is at its limit."""
        if not self.may_connect(ip):
            return False
        self.open[ip] = self.open.get(ip, 0) + 1
        return True

    def closed(self, ip: str) -> None:
        n = self.open.get(ip, 0) - 1
        if n > 0:
            self.open[ip] = n
        else:
            self.open.pop(ip, None)

    def take_session(self, ip: str, now: float | None = None) -> float:
        """Record a new session for ``ip``; 0.0 if allowed, else the seconds to wait."""
        if not self.sessions_per_min:
            return 0.0
        now = time.monotonic() if now is None else now
        window = self._window(self.recent, ip, now, 60.0)
        if len(window) >= self.sessions_per_min:
            return max(1.0, window[0] + 60.0 - now)
        window.append(now)
        return 0.0

    def _window(
        self, store: dict[str, deque[float]], ip: str, now: float, span: float
    ) -> deque[float]:
        """``ip``'s times in ``store`` within ``span`` seconds before ``now`` (the older
        ones dropped); ``store`` forgets idle addresses first when it is full."""
        window = store.get(ip)
        if window is None:
            if len(store) >= self.max_addresses:
                _forget(store, now - span, self.max_addresses)
            window = store[ip] = deque()
        while window and window[0] <= now - span:
            window.popleft()
        return window


def _forget(store: dict[str, deque[float]], before: float, limit: int) -> None:
    for ip in [ip for ip, w in store.items() if not w or w[-1] <= before]:
        del store[ip]
    while len(store) >= limit:  # all recent: drop the oldest
        del store[next(iter(store))]
