"""Edge limits: per connection (token buckets for every frame, messages, audio, refusals
and error events; see :mod:`edge.link`), per client address and for the whole edge (see
:mod:`edge.admission`)."""

from __future__ import annotations

__all__ = ["Limits", "TokenBucket"]

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_frame_bytes: int = 64 * 1024
    #: every frame counts, control frames included (ping, pong, close, continuation):
    #: a browser sends 25-50 audio frames a second; past the burst at twice that, 1008
    frames_per_s: float = 100.0
    frame_burst: float = 300.0
    #: bytes the edge holds unsent for one client (its pongs, events) before cutting it
    max_write_buffer: int = 1 << 20
    #: after a close for abuse, the client has this long to finish the handshake
    abuse_grace_s: float = 0.5
    messages_per_s: float = 20.0
    message_burst: float = 40.0
    #: audio bytes per second: 16 kHz PCM16 is 32,000 B/s; allow 1.5x for jitter
    audio_bytes_per_s: float = 48_000.0
    audio_burst_bytes: float = 96_000.0
    outbound_queue: int = 512
    hello_timeout_s: float = 10.0
    send_timeout_s: float = 5.0
    #: a session silent this long is probed; "no responders" (its node died) re-activates
    #: it elsewhere. Half the lease TTL: failover then takes at most about one TTL.
    owner_probe_s: float = 2.5

    # --- admission (0 = no limit) ----------------------------------------------------------
    #: WebSocket connections this edge holds; above it the upgrade gets 503 + Retry-After
    max_connections: int = 2000
    max_connections_per_ip: int = 32
    sessions_per_ip_per_min: int = 30
    #: connections of one address cut for abuse (floods) within a minute before that
    #: address is refused (429) for ``abuse_block_s``
    abuse_strikes_per_min: int = 3
    abuse_block_s: float = 60.0
    #: browser origins allowed besides the page's own (``*``: any, not recommended)
    allowed_origins: tuple[str, ...] = ()
    #: a new session that has not sent ``start`` this long is closed (1008)
    start_timeout_s: float = 30.0
    #: a started session whose client sent no audio, answer or end this long is closed
    #: (1008, ``idle_timeout``; it can be resumed); 0: never
    idle_timeout_s: float = 600.0
    #: lifetime of a session token (a fresh one comes with every resume)
    session_token_s: float = 12 * 3600.0
    #: host names the edge answers to besides IP literals and localhost (DNS
    #: rebinding: a page of another name resolving to this address is refused);
    #: ``*``: any
    allowed_hosts: tuple[str, ...] = ()
    #: Retry-After while the session nodes answer "busy" (every one is full)
    busy_retry_after_s: int = 10

    # --- abuse on an open connection ----------------------------------------------------------
    #: refused messages/audio frames beyond this rate, sustained past the burst: close 1008
    violations_per_s: float = 5.0
    violation_burst: float = 100.0
    #: error events sent to one connection; the excess is counted, not sent
    errors_per_s: float = 10.0
    error_burst: float = 50.0


class TokenBucket:
    """Classic token bucket; the caller passes the (monotonic) time, so it is sans I/O."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, amount: float, now: float) -> bool:
        """Take ``amount`` if the bucket holds it (refilled up to ``now``)."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False
