"""Which model roles are warming up, and when they should be ready: for ``/readyz`` and for
the page (the ``warming`` event, docs/protocol.md).

A role is ready when some actor of its kind answers ``$SRV.PING.parley-<role>`` (a model
actor registers its service only once its model is loaded). For a role that is not, the
estimate comes from the ``parley up`` supervisors (``$SRV.STATS.parley-supervisor``:
``ready_in_s`` of the child running it, the smallest when several machines run it). No
supervisor, or a role marked down: the estimate is unknown (None).

:class:`WarmingWatch` polls the bus every few seconds and wakes the connections waiting
on it when the answer changes enough to tell the candidate (a role comes or goes, or its
estimate moves by more than :data:`SHIFT_S` from the count-down the page keeps itself).
"""

from __future__ import annotations

__all__ = ["MODEL_ROLES", "SHIFT_S", "WarmingWatch", "warming_roles"]

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

#: The roles a candidate notices when they are missing.
MODEL_ROLES = ("llm", "stt", "tts", "embed")
#: Seconds an estimate may drift from the page's own count-down before it is sent again.
SHIFT_S = 5.0

Roles = dict[str, float | None]


def warming_roles(checks: Mapping[str, bool], supervised: Mapping[str, Any]) -> Roles:
    """The model roles that are not ready (``checks[role]`` false), each with the seconds
    until it should be (the smallest ``ready_in_s`` among the supervisors' children named
    ``<node>/<role>``; None when none knows)."""
    out: Roles = {}
    for role in MODEL_ROLES:
        if role not in checks or checks[role]:
            continue
        etas = [
            float(state["ready_in_s"])
            for name, state in supervised.items()
            if name.rpartition("/")[2] == role
            and isinstance(state, dict)
            and isinstance(state.get("ready_in_s"), int | float)
            and state.get("state") != "ready"
        ]
        out[role] = round(min(etas), 1) if etas else None
    return out


def _moved(old: Roles, old_at: float, new: Roles, now: float) -> bool:
    """Whether ``new`` tells the candidate something ``old`` (counted down since
    ``old_at``) does not."""
    if old.keys() != new.keys():
        return True
    for role, eta in new.items():
        before = old[role]
        if (before is None) != (eta is None):
            return True
        if before is not None and eta is not None:
            if abs(max(0.0, before - (now - old_at)) - eta) > SHIFT_S:
                return True
    return False


class WarmingWatch:
    """Polls ``probe`` (an async function returning :func:`warming_roles`' answer) every
    ``period_s`` and publishes significant changes. :meth:`start` / :meth:`stop`."""

    def __init__(self, probe: Callable[[], Awaitable[Roles]], *, period_s: float = 2.0) -> None:
        self._probe = probe
        self.period_s = period_s
        #: the last published answer and its version (0: nothing known yet)
        self.roles: Roles = {}
        self.version = 0
        self._at = 0.0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="warming-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                roles = await asyncio.wait_for(self._probe(), self.period_s * 2)
            except Exception as exc:  # the bus is away: keep the last answer
                log.debug("warming probe failed: %s", exc)
            else:
                self.update(roles)
            await asyncio.sleep(self.period_s)

    def update(self, roles: Roles) -> None:
        """Take a new answer; wake the waiters if it says something new."""
        now = time.monotonic()
        if self.version and not _moved(self.roles, self._at, roles, now):
            return
        self.roles, self._at = dict(roles), now
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seen: int) -> tuple[int, Roles]:
        """The next answer after version ``seen`` (at once if there is a newer one)."""
        while self.version <= seen:
            await self._changed.wait()
        now = time.monotonic()
        left = {
            role: (None if eta is None else round(max(0.0, eta - (now - self._at)), 1))
            for role, eta in self.roles.items()
        }
        return self.version, left
