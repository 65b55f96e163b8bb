"""``parley up``: a small supervisor with one OS process per role group.

The process that serves WebSockets and runs the session actors never loads a model: a
native fault in llama.cpp, CTranslate2, onnxruntime or piper (SIGILL on an odd CPU, a bad
model file, an OOM kill) takes down only its own engine's process. JetStream hands that
engine's jobs back (ack_wait), the sessions' deadlines keep the interviews moving, and the
supervisor starts the engine again.

Layout (``ps`` shows each child as ``parley: <roles>``)::

    parley up (supervisor)      embedded nats-server + Postgres when no URLs are given
    ├── parley: edge,session    WebSockets, HTTP, session actors (+ VAD, small ONNX)
    ├── parley: stt             faster-whisper
    ├── parley: llm             llama.cpp (questions, follow-ups, assessments), or only
    │                           an HTTP client of the server at PARLEY_LLM_URL
    ├── parley: tts             piper / espeak-ng
    └── parley: embed           embeddings + RAG

Restart policy (:class:`RestartPolicy`): a child that exits for any reason while the
supervisor runs is logged with its exit code or signal and started again after a backoff
that doubles from ``backoff_min_s`` (0.5 s: a warm engine is back in seconds, so the first
retry should not wait long) to ``backoff_max_s``. A child that was up for
``stable_after_s`` starts the count afresh. After ``crash_loop_limit`` failed starts in a
row the role is marked ``down`` and tried again only every ``crash_loop_cooldown_s``: the
rest of the node keeps serving, nothing spins. The state of every child is a NATS micro
service ``parley-supervisor`` (``nats micro stats parley-supervisor``) that ``/readyz``
reads to say which role is down and since when.

Stopping (SIGINT/SIGTERM): children first (the edge and sessions drain and hand over), then
the embedded servers. Children die with the supervisor even on SIGKILL (``PR_SET_PDEATHSIG``),
and the embedded Postgres is stopped by its watchdog.
"""

from __future__ import annotations

__all__ = [
    "ENGINE_NICE",
    "ChildSpec",
    "ChildState",
    "RestartPolicy",
    "Supervisor",
    "child_specs",
    "engine_preexec",
]

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from actors.models.service.startup import parse_estimate
from parley.config import MODEL_ROLES, REPO
from parley.procs import describe_exit, die_with_parent

log = logging.getLogger(__name__)

#: What a child prints once it serves (``parley node`` prints it after start-up).
READY_LINE = "parley is up"

State = Literal["starting", "ready", "backoff", "down", "stopped"]


@dataclass(frozen=True)
class RestartPolicy:
    """When a dead child is started again (``PARLEY_RESTART_*``, see
    :meth:`parley.config.Config.restart_policy`)."""

    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    stable_after_s: float = 60.0
    crash_loop_limit: int = 5
    crash_loop_cooldown_s: float = 300.0
    stop_grace_s: float = 30.0

    def backoff(self, failures: int) -> float:
        """Seconds to wait before start number ``failures + 1`` of a failing child."""
        if failures >= self.crash_loop_limit:
            return self.crash_loop_cooldown_s
        return float(min(self.backoff_max_s, self.backoff_min_s * 2 ** max(0, failures - 1)))


#: How much lower the model engines' CPU priority is than the edge and session process
#: (``nice`` steps; the default of ``PARLEY_ENGINE_NICE``): on two cores an engine keeps
#: both busy, and the event loop that carries every live interview's heartbeats and audio
#: must win the core whenever it has work (a few percent of a core); the engines get the
#: rest.
ENGINE_NICE = 5


@dataclass(frozen=True)
class ChildSpec:
    """One child process: the roles it runs (``parley node --role ...``)."""

    roles: tuple[str, ...]
    engine_nice: int = ENGINE_NICE

    @property
    def name(self) -> str:
        return ",".join(self.roles)

    @property
    def nice(self) -> int:
        """The niceness increment of this child: ``engine_nice`` for model engines."""
        return self.engine_nice if set(self.roles) <= set(MODEL_ROLES) else 0


def engine_preexec(nice: int) -> Callable[[], None]:
    """A ``preexec_fn``: die with the parent, then lower the priority by ``nice``."""

    def preexec() -> None:
        die_with_parent()
        if nice:
            os.nice(nice)

    return preexec


def child_specs(roles: Sequence[str], engine_nice: int = ENGINE_NICE) -> list[ChildSpec]:
    """Edge and session share a process (neither loads a model); each model role gets
    its own, ``engine_nice`` steps lower in CPU priority."""
    front = tuple(r for r in ("edge", "session") if r in roles)
    specs = [ChildSpec(front)] if front else []
    specs += [ChildSpec((r,), engine_nice) for r in MODEL_ROLES if r in roles]
    return specs


class ChildState(msgspec.Struct, kw_only=True):
    """What the supervisor knows of one child; the micro service's stats carry these.

    ``ready_in_s`` is the estimate of when a child that is not ready will be (seconds from
    now; None when unknown, e.g. a role marked down): the time left of its backoff plus what
    its model actor announced it expects to take (:mod:`actors.models.service.startup`), or
    else what its last start took. ``last_ready_s`` is how long its last start took to be
    ready (0 until it was ready once)."""

    name: str
    state: State = "starting"
    pid: int = 0
    since: str = ""  # UTC, ISO 8601: when ``state`` began
    starts: int = 0
    restarts: int = 0
    failures_in_row: int = 0
    last_exit: str = ""
    last_exit_at: str = ""
    ready_in_s: float | None = None
    last_ready_s: float = 0.0


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class _Child:
    spec: ChildSpec
    argv: list[str]
    env: dict[str, str]
    status: ChildState
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    #: monotonic time the next start is due (while in backoff or down)
    next_start_at: float = 0.0
    #: monotonic time the child's model actors expect to be ready (from their estimates)
    expect_ready_at: float = 0.0

    def set_state(self, state: State) -> None:
        self.status.state = state
        self.status.since = _utc_now()

    def ready_in(self, now: float) -> float | None:
        """Seconds until this child should be ready (see :class:`ChildState`)."""
        st = self.status
        if st.state == "ready":
            return 0.0
        if st.state == "starting":
            if self.expect_ready_at:
                return max(0.0, self.expect_ready_at - now)
            if st.last_ready_s:
                return max(0.0, self.started_at + st.last_ready_s - now)
            return None
        if st.state == "backoff" and st.last_ready_s:
            return max(0.0, self.next_start_at - now) + st.last_ready_s
        return None


class Supervisor:
    """Run ``specs`` as child processes until :meth:`stop`.

    ``argv_for(spec)`` is the child's command line and ``env`` its environment (the
    URLs of NATS and Postgres among it), or a function giving each child its own (its
    NATS credentials). ``on_change`` is called each time a child becomes ready (its
    ``last_ready_s`` says how long that start took) and each time one exits unexpectedly
    (state ``backoff`` or ``down``); the micro service reads :meth:`states`."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        argv_for: Callable[[ChildSpec], list[str]],
        env: dict[str, str] | Callable[[ChildSpec], dict[str, str]],
        policy: RestartPolicy | None = None,
        *,
        echo: Callable[[str], None] | None = None,
        on_change: Callable[[ChildState], None] | None = None,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._echo = echo or (lambda line: print(line, flush=True))
        self._on_change = on_change
        env_for = env if callable(env) else (lambda _s: env)
        self._children = [
            _Child(s, argv_for(s), env_for(s), ChildState(name=s.name)) for s in specs
        ]
        self._stopping = False

    def states(self) -> list[ChildState]:
        """Every child's state, with ``ready_in_s`` brought up to date."""
        now = time.monotonic()
        for c in self._children:
            eta = c.ready_in(now)
            c.status.ready_in_s = None if eta is None else round(eta, 1)
        return [c.status for c in self._children]

    def child(self, name: str) -> ChildState:
        return next(c.status for c in self._children if c.spec.name == name)

    def pid(self, name: str) -> int:
        return next(c.status.pid for c in self._children if c.spec.name == name)

    async def start(self) -> None:
        """Start every child (in order) and return; they run and restart in the background."""
        for child in self._children:
            child.task = asyncio.create_task(self._run(child), name=f"child {child.spec.name}")

    async def wait_ready(self, timeout: float) -> bool:
        """True once every child said it is up (False at ``timeout``)."""
        try:
            async with asyncio.timeout(timeout):
                for child in self._children:
                    await child.ready.wait()
            return True
        except TimeoutError:
            return False

    def _changed(self, child: _Child) -> None:
        if self._on_change is not None:
            try:
                self._on_change(self.states()[self._children.index(child)])
            except Exception:  # a report must never stop the supervisor
                log.exception("on_change failed")

    async def _run(self, child: _Child) -> None:
        try:
            await self._keep_running(child)
        finally:
            child.set_state("stopped")

    async def _keep_running(self, child: _Child) -> None:
        while not self._stopping:
            code = await self._run_once(child)
            if self._stopping:
                break
            lived = time.monotonic() - child.started_at
            was_ready = child.ready.is_set()
            child.ready.clear()
            child.status.last_exit = describe_exit(code)
            child.status.last_exit_at = _utc_now()
            if was_ready and lived >= self.policy.stable_after_s:
                child.status.failures_in_row = 0
            child.status.failures_in_row += 1
            delay = self.policy.backoff(child.status.failures_in_row)
            crash_loop = child.status.failures_in_row >= self.policy.crash_loop_limit
            child.set_state("down" if crash_loop else "backoff")
            log_fn = log.error if crash_loop else log.warning
            child.next_start_at = time.monotonic() + delay
            self._changed(child)
            log_fn(
                "%s (pid %d) %s after %.1f s; %s in %.1f s",
                child.spec.name,
                child.status.pid,
                child.status.last_exit,
                lived,
                "crash loop: role marked down, next try" if crash_loop else "restarting",
                delay,
            )
            await asyncio.sleep(delay)
            child.status.restarts += 1

    async def _run_once(self, child: _Child) -> int:
        child.set_state("starting")
        child.started_at = time.monotonic()
        child.expect_ready_at = 0.0
        child.status.starts += 1
        proc = await asyncio.create_subprocess_exec(
            *child.argv,
            env=child.env,
            cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # its own process group: a terminal's Ctrl-C reaches the supervisor only, which
            # stops the children in order; PDEATHSIG ends them if the supervisor is killed
            start_new_session=True,
            preexec_fn=engine_preexec(child.spec.nice),
        )
        child.proc = proc
        child.status.pid = proc.pid
        log.info("%s started (pid %d)", child.spec.name, proc.pid)
        assert proc.stdout is not None
        prefix = f"[{child.spec.name}] "
        try:
            while True:
                line = await proc.stdout.readline()
                if not line:
                    break
                text = line.decode(errors="replace").rstrip("\n")
                self._echo(prefix + text)
                estimate = parse_estimate(text)
                if estimate is not None:
                    # a child loads its models one after another: the last estimate counts
                    child.expect_ready_at = time.monotonic() + estimate[1]
                if READY_LINE in text and not child.ready.is_set():
                    child.status.last_ready_s = round(time.monotonic() - child.started_at, 1)
                    child.ready.set()
                    child.set_state("ready")
                    self._changed(child)
            return await proc.wait()
        except asyncio.CancelledError:
            # stopped while this child was starting: it must not be left behind
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            raise

    async def stop(self) -> None:
        """Stop every child: SIGTERM (they drain), SIGKILL after the grace period."""
        self._stopping = True
        running = [c for c in self._children if c.proc and c.proc.returncode is None]
        for c in running:
            assert c.proc is not None
            with contextlib.suppress(ProcessLookupError):
                c.proc.send_signal(signal.SIGTERM)
        for c in running:
            assert c.proc is not None
            try:
                await asyncio.wait_for(c.proc.wait(), self.policy.stop_grace_s)
            except TimeoutError:
                log.warning(
                    "%s did not stop in %.0f s: SIGKILL", c.spec.name, self.policy.stop_grace_s
                )
                with contextlib.suppress(ProcessLookupError):
                    c.proc.kill()
                await c.proc.wait()
        for c in self._children:
            if c.task is not None:
                c.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await c.task


def child_argv(spec: ChildSpec, passthrough: Sequence[str]) -> list[str]:
    """``python -m parley.cli node --role <roles> ...`` for one child."""
    return [sys.executable, "-m", "parley.cli", "node", "--role", spec.name, *passthrough]
