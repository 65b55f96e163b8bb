"""Client heartbeats, pause after the grace period, idle deactivation, periodic snapshots.

While a client is attached the core emits ``ping(id)`` every ``ping_interval_s``; each
interval without the matching ``pong`` is a miss, and ``max_missed_pongs`` misses count as
a detach. Detached longer than ``grace_s``: the interview pauses (no new question goes on
air) until ``Attach``. Detached, or finished, for ``idle_timeout_s``: ``Snapshot`` and
``Deactivate``.
"""

from __future__ import annotations

__all__ = ["on_attach", "on_detach", "on_pong", "tick"]

from actors.session.commands import Deactivate
from actors.session.ctx import Ctx
from bus.events import Ping, State


def on_attach(ctx: Ctx) -> None:
    live = ctx.st.live
    live.attached = True
    live.detached_at = None
    live.missed = 0
    live.ping_outstanding = 0
    live.next_ping_at = ctx.t + ctx.cfg.ping_interval_s
    live.deactivated = False
    if live.paused:
        live.paused = False
        ctx.emit(State(state=ctx.st.phase))


def on_detach(ctx: Ctx) -> None:
    live = ctx.st.live
    if live.attached:
        live.attached = False
        live.detached_at = ctx.t
        live.ping_outstanding = 0


def on_pong(ctx: Ctx, ping_id: int) -> None:
    live = ctx.st.live
    if live.ping_outstanding and ping_id == live.ping_outstanding:
        live.ping_outstanding = 0
        live.missed = 0
    else:
        ctx.st.counters.stale_pongs += 1


def tick(ctx: Ctx) -> None:
    """Call after every input, last: it may end the actor's life."""
    _ping(ctx)
    _pause(ctx)
    st, live = ctx.st, ctx.st.live
    if st.phase not in ("idle", "finished") and ctx.t >= live.next_snapshot_at:
        ctx.snapshot("periodic")
    _idle(ctx)


def _ping(ctx: Ctx) -> None:
    live, cfg = ctx.st.live, ctx.cfg
    if not live.attached or ctx.t < live.next_ping_at:
        return
    if live.ping_outstanding:
        live.missed += 1
        ctx.st.counters.missed_pongs += 1
        if live.missed >= cfg.max_missed_pongs:
            on_detach(ctx)
            return
    live.ping_id += 1
    live.ping_outstanding = live.ping_id
    live.next_ping_at = ctx.t + cfg.ping_interval_s
    ctx.emit(Ping(id=live.ping_id))


def _pause(ctx: Ctx) -> None:
    st, live = ctx.st, ctx.st.live
    if live.attached or live.paused or live.detached_at is None:
        return
    if st.phase in ("idle", "finished") or ctx.t - live.detached_at < ctx.cfg.grace_s:
        return
    live.paused = True
    ctx.snapshot("pause")


def _idle(ctx: Ctx) -> None:
    st, live, cfg = ctx.st, ctx.st.live, ctx.cfg
    if live.deactivated:
        return
    reason = ""
    if st.phase == "finished" and live.finished_at is not None:
        if ctx.t - live.finished_at >= cfg.idle_timeout_s:
            reason = "finished"
        elif (
            not live.attached
            and live.detached_at is not None
            and (ctx.t - max(live.detached_at, live.finished_at) >= cfg.finished_detached_s)
        ):
            reason = "finished"
    if not reason and not live.attached and live.detached_at is not None:
        if ctx.t - live.detached_at >= cfg.idle_timeout_s:
            reason = "idle"
    if reason:
        live.deactivated = True
        ctx.snapshot("deactivate")
        ctx.out.append(Deactivate(reason))
