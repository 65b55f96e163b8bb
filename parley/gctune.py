"""Garbage-collector settings for a long-running node (what the heartbeat p99 needs).

Measured with ``parley bench load -n 1000`` (docs/scaling.md): at a thousand held
sessions the event loop's live working set (coroutines, futures, handles, contexts of
in-flight NATS and WebSocket work) is 10-40 thousand young objects, so CPython's default
young-generation collection (every 700 allocations) took 15-30 ms each, several times a
second, and every tenth one (generation 1) 50-70 ms: those pauses, not the sessions'
work, were the heartbeat's tail latency. The cost of a young collection is the live
young objects, not the threshold, so collecting ten times less often costs ten times
fewer pauses of about the same length. Objects alive after start-up (models, the
question bank, modules) are moved out of the collector's sight with ``gc.freeze`` so the
rare full collections do not walk them again and again.
"""

from __future__ import annotations

__all__ = ["tune_gc"]

import gc
import logging

log = logging.getLogger(__name__)

GEN0 = 20_000
GEN1 = 20
GEN2 = 20


def tune_gc(mode: str = "tuned", gen0: int = GEN0) -> None:
    """Call once the node has started. ``mode="default"`` (``PARLEY_GC=default``) keeps
    CPython's settings; ``gen0`` is the young generation's threshold (``PARLEY_GC_GEN0``)."""
    if mode == "default":
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0, GEN1, GEN2)
    log.info(
        "gc: %d start-up objects frozen, thresholds %s", gc.get_freeze_count(), gc.get_threshold()
    )
