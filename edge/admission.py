"""Admission control at the edge: who may open a WebSocket and a new session.

- :func:`origin_allowed`: a browser's ``Origin`` must be the page's own origin (the
  request's ``Host``) or one configured explicitly; ``null`` and foreign origins are
  refused. A request without ``Origin`` is not from a browser page and is let through (a
  non-browser client can send any header; the Origin check protects visitors' browsers).
- :class:`PerIp`: concurrent connections and new sessions per minute per client address
  (the TCP peer: behind a proxy, the proxy's address; see docs/operating.md). Its state is
  bounded: addresses with nothing open and no recent session are forgotten.
"""

from __future__ import annotations

__all__ = ["PerIp", "origin_allowed"]

import time
import urllib.parse
from collections import deque


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
    """Counts per client address. ``max_connections`` and ``sessions_per_min`` of 0 mean
    no limit. Call :meth:`opened`/:meth:`closed` around a connection, and
    :meth:`take_session` before creating a session."""

    def __init__(
        self, max_connections: int, sessions_per_min: int, max_addresses: int = 100_000
    ) -> None:
        self.max_connections = max_connections
        self.sessions_per_min = sessions_per_min
        self.max_addresses = max_addresses
        self.open: dict[str, int] = {}
        self.recent: dict[str, deque[float]] = {}

    def may_connect(self, ip: str) -> bool:
        return not self.max_connections or self.open.get(ip, 0) < self.max_connections

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
        window = self.recent.get(ip)
        if window is None:
            if len(self.recent) >= self.max_addresses:
                self._forget(now)
            window = self.recent[ip] = deque()
        while window and window[0] <= now - 60.0:
            window.popleft()
        if len(window) >= self.sessions_per_min:
            return max(1.0, window[0] + 60.0 - now)
        window.append(now)
        return 0.0

    def _forget(self, now: float) -> None:
        for ip in [ip for ip, w in self.recent.items() if not w or w[-1] <= now - 60.0]:
            del self.recent[ip]
        while len(self.recent) >= self.max_addresses:  # all recent: drop the oldest
            del self.recent[next(iter(self.recent))]
