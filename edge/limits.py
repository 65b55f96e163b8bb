"""Per-connection limits: token buckets for messages and audio, and their counters."""

from __future__ import annotations

__all__ = ["Limits", "TokenBucket"]

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_frame_bytes: int = 64 * 1024
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


class TokenBucket:
    """Classic token bucket on the monotonic clock."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self, amount: float = 1.0) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False
