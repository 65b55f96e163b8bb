"""The model-actor base: the engine thread bridge, the job workers, the micro service, stats.

Each actor (:mod:`.stt`, :mod:`.llm`, :mod:`.tts`, :mod:`.embed`) wraps one engine and serves
one job kind from JetStream.

Start-up order is the point: the engine loads (and warms with one real inference) in a
worker thread *before* the actor binds to its kind's durable consumer, so a model that
is not loaded takes no work. Readiness is visible as a NATS micro service
``parley-<kind>`` (``nats micro ls|info|stats``) registered only when ready; ``/readyz``
pings it.

Inference always runs off the event loop, on one thread per engine (engines are not
thread-safe), so heartbeats and other sessions keep their timing while a model is busy.

Stopping (SIGTERM, drain): every worker stops fetching at once; running jobs get
:data:`STOP_GRACE_S` to finish (assessments none: they are long and start over anywhere),
then their tasks are cancelled, which hands the job back and sets the engine's cancel
Event; the actor then waits (bounded) for the engine thread to return, because the
interpreter joins that thread before the process can exit.
"""

from __future__ import annotations

__all__ = ["STOP_GRACE_S", "STOP_WAIT_S", "ModelActor", "elapsed_ms"]

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import nats.micro
from nats.aio.client import Client

from actors.models import assets
from actors.models.service.startup import LoadHistory, estimate_line
from bus.worker import JobWorker

log = logging.getLogger(__name__)

T = TypeVar("T")
_END = object()

#: Seconds a stopping worker lets its running jobs finish before it cancels them.
STOP_GRACE_S = 10.0
#: Seconds a stopping actor waits for the engine thread to return from a cancelled call.
STOP_WAIT_S = 5.0


class ModelActor:
    """Base: one engine thread, one or more JobWorkers, one micro service."""

    kind: str = ""

    def __init__(
        self, nc: Client, engine_name: str, *, concurrency: int = 1, threads: int = 1
    ) -> None:
        """``threads`` > 1 only for a thread-safe engine (a remote one): calls then overlap."""
        self.nc = nc
        self.js = nc.jetstream()
        self.engine_name = engine_name
        self.concurrency = concurrency
        self.executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix=f"{self.kind}-engine"
        )
        self.workers: list[JobWorker] = []
        self.service: Any = None
        self.ready = False
        self.load_s = 0.0
        #: ``warm``/``cold``/``start``: what kind of start the last load was
        self.started_as = ""

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def stream_sync(
        self, make: Callable[[], Iterator[T]], cancel: threading.Event | None = None
    ) -> AsyncIterator[T]:
        """Run a blocking generator on the engine thread and yield its items here."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue(64)

        def produce() -> None:
            try:
                for item in make():
                    asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
                    if cancel is not None and cancel.is_set():
                        break
            except BaseException as exc:  # handed to the consumer
                asyncio.run_coroutine_threadsafe(queue.put(exc), loop).result()
            finally:
                asyncio.run_coroutine_threadsafe(queue.put(_END), loop).result()

        fut = loop.run_in_executor(self.executor, produce)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if cancel is not None:
                cancel.set()
            while not fut.done():  # unblock the producer and let it finish
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                await asyncio.sleep(0.01)

    async def load(self) -> None:
        """Load and warm the engine. Subclasses implement :meth:`_load_sync`.

        Before loading, prints how long it expects to take (:mod:`.startup`: what the
        same kind of start took last time); afterwards remembers what it took."""
        started = time.perf_counter()
        history = LoadHistory(assets.cache_dir() / "load-times.json")
        variant = await self.run_sync(self.start_variant)
        print(estimate_line(self.kind, variant, history.expect(self.kind, variant)), flush=True)
        log.info("%s: loading %s ...", self.kind, self.engine_name)
        await self.run_sync(self._load_sync)
        self.load_s = time.perf_counter() - started
        self.started_as = self.loaded_variant() or variant
        history.record(self.kind, self.started_as, self.load_s)
        how = "" if self.started_as == "start" else f" ({self.started_as} start)"
        log.info("%s: %s ready in %.1fs%s", self.kind, self.engine_name, self.load_s, how)

    def start_variant(self) -> str:
        """What kind of start the next load will be (``warm``/``cold`` for an engine that
        keeps state across starts, else ``start``); runs on the engine thread."""
        expected = getattr(getattr(self, "engine", None), "expected_start", None)
        return str(expected()) if callable(expected) else "start"

    def loaded_variant(self) -> str:
        """What kind of start the load was, as the engine reports it ("" if it does not)."""
        return str(getattr(getattr(self, "engine", None), "start_kind", "") or "")

    def _load_sync(self) -> None:
        raise NotImplementedError

    @property
    def device(self) -> str:
        """Where the engine computes (``cpu``, ``cuda``/``gpu``), as it reports after load."""
        return str(getattr(getattr(self, "engine", None), "device", "cpu"))

    def handlers(self) -> list[JobWorker]:
        raise NotImplementedError

    async def start(self) -> None:
        """Load, then join the consumer(s), then announce readiness."""
        await self.load()
        self.workers = self.handlers()
        for w in self.workers:
            await w.start()
        self.ready = True
        self.service = await nats.micro.add_service(
            self.nc,
            name=f"parley-{self.kind}",
            version="0.1.0",
            description=f"Parley {self.kind} model actor ({self.engine_name})",
            metadata={"engine": self.engine_name, "kind": self.kind},
            stats_handler=lambda _ep: self.stats(),
        )
        await self.service.add_endpoint(
            name="status", subject=f"parley.{self.kind}.status", handler=self._status
        )

    async def _status(self, req: Any) -> None:
        import msgspec

        await req.respond(msgspec.json.encode(self.stats()))

    def stats(self) -> dict[str, Any]:
        done = sum(w.stats.done for w in self.workers)
        lat = sorted(x for w in self.workers for x in w.stats.latency_ms)
        return {
            "ready": self.ready,
            "engine": self.engine_name,
            "jobs_done": done,
            "jobs_failed": sum(w.stats.failed for w in self.workers),
            "jobs_expired": sum(w.stats.expired for w in self.workers),
            "jobs_redelivered": sum(w.stats.redelivered for w in self.workers),
            "busy": sum(w.busy for w in self.workers),
            "latency_ms_p50": lat[len(lat) // 2] if lat else 0,
            "load_s": round(self.load_s, 2),
            "started_as": self.started_as,
        }

    def stop_grace(self, worker: JobWorker) -> float:
        """Seconds ``worker``'s running jobs get to finish when the actor stops."""
        return STOP_GRACE_S

    async def stop(self) -> None:
        """Stop every worker at once (see the module docstring), then wait at most
        :data:`STOP_WAIT_S` for the engine thread to return."""
        self.ready = False
        if self.service is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.service.stop(), 2.0)
        await asyncio.gather(*(w.stop(self.stop_grace(w)) for w in self.workers))
        await self._engine_idle(STOP_WAIT_S)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _engine_idle(self, timeout: float) -> None:
        # The engine thread serves its calls in order: a no-op runs once the current one
        # has returned. Calls queued behind it belong to cancelled jobs; shutdown drops them.
        try:
            idle = self.executor.submit(lambda: None)
        except RuntimeError:  # already shut down
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(idle), timeout)
        except TimeoutError:
            log.warning(
                "%s: engine still busy %.0fs after stop; exit waits for it", self.kind, timeout
            )


def elapsed_ms(since: float) -> int:
    """Milliseconds since ``since`` (a ``time.perf_counter()`` value)."""
    return int((time.perf_counter() - since) * 1000)
