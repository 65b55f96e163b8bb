"""The JetStream worker loop shared by every model actor.

A :class:`JobWorker` binds to the durable pull consumer of one job kind and runs a
handler for each job with bounded concurrency. The handler is an async generator of
:data:`bus.jobs.Result` messages; each is published to the job's reply subject (from the
``Parley-Reply-To`` header, since JetStream keeps no reply subject) with the
deduplication id ``<job id>:<n>``, so a redelivered job that produces the same results
does not duplicate them. Then the job is acked.

- Long jobs: ``in_progress()`` is sent every ``ack_wait / 3`` so the server does not
  redeliver a job that is still running.
- :class:`~bus.errors.BadJob` (or an undecodable job): ``term`` plus a :class:`bus.jobs.JobError`
  result, so the session can fall back at once.
- A job whose deadline passed is terminated unrun: the session already moved on.
- Any other exception is taken as passing: ``nak`` with a growing delay until the last
  delivery, then ``term`` + error.
"""

from __future__ import annotations

__all__ = ["BadJob", "JobContext", "JobWorker"]

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import ServiceUnavailableError

from bus import subjects
from bus.errors import BadJob, BadMessage
from bus.jobs import Job, JobError, JobErrorCode, Result, decode_job, encode
from bus.requests import publish_retrying
from bus.subjects import JobKind
from bus.tasks import cancel_and_wait

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    """What a handler knows about the job besides its payload."""

    job_id: str
    kind: JobKind
    reply_to: str
    deadline: float
    attempt: int

    def remaining(self) -> float:
        """Seconds left until the job's deadline (wall clock)."""
        return self.deadline - time.time()


Handler = Callable[[Job, JobContext], AsyncIterator[Result]]


@dataclass
class WorkerStats:
    done: int = 0
    failed: int = 0
    expired: int = 0
    redelivered: int = 0
    busy: int = 0
    latency_ms: list[float] = field(default_factory=list)

    def record(self, ms: float) -> None:
        self.latency_ms.append(ms)
        if len(self.latency_ms) > 256:  # bounded: the last 256 jobs
            del self.latency_ms[:128]


class JobWorker:
    """Pull jobs of ``kind`` and run ``handler`` on them, at most ``concurrency`` at once.

    Call :meth:`start` once the model is loaded (a worker that is not started takes no
    work), :meth:`stop` to drain. ``may_fetch`` lets a lower-priority worker wait while a
    higher-priority one is busy.
    """

    def __init__(
        self,
        js: JetStreamContext,
        kind: JobKind,
        handler: Handler,
        *,
        concurrency: int = 1,
        ack_wait: float = 30.0,
        max_deliver: int = 5,
        may_fetch: Callable[[], bool] | None = None,
    ) -> None:
        self.js = js
        self.kind = kind
        self.handler = handler
        self.concurrency = concurrency
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.may_fetch = may_fetch
        self.stats = WorkerStats()
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._running = False

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        """Bind to the kind's durable consumer (it must exist: :func:`provision`). The pulse
        period follows the consumer's ``ack_wait``."""
        info = await self.js.consumer_info(subjects.STREAM_JOBS, subjects.job_consumer(self.kind))
        if info.config.ack_wait:
            self.ack_wait = float(info.config.ack_wait)
        if info.config.max_deliver and info.config.max_deliver > 0:
            self.max_deliver = int(info.config.max_deliver)
        self._sub = await self.js.pull_subscribe_bind(
            durable=subjects.job_consumer(self.kind), stream=subjects.STREAM_JOBS
        )
        self._running = True
        self._loop_task = asyncio.create_task(self._loop(), name=f"worker-{self.kind}")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop fetching, wait up to ``grace`` s for running jobs, cancel the rest."""
        self._running = False
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            await cancel_and_wait(pending)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._sub.unsubscribe(), 2.0)

    async def _loop(self) -> None:
        while self._running:
            if self.may_fetch is not None and not self.may_fetch():
                await asyncio.sleep(0.05)
                continue
            await self._sem.acquire()
            try:
                msgs = await self._sub.fetch(1, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                self._sem.release()
                continue
            except (
                nats.errors.ConnectionClosedError,
                nats.errors.ConnectionReconnectingError,
                nats.errors.NoRespondersError,
                ServiceUnavailableError,
            ) as exc:
                # the server is going away or coming back (503 while JetStream starts)
                self._sem.release()
                log.debug("worker %s fetch: %r", self.kind, exc)
                await asyncio.sleep(0.2)
                continue
            except Exception:
                self._sem.release()
                log.exception("worker %s fetch failed", self.kind)
                await asyncio.sleep(0.5)
                continue
            if not msgs:
                self._sem.release()
                continue
            task = asyncio.create_task(self._run(msgs[0]), name=f"job-{self.kind}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, msg: Msg) -> None:
        try:
            await self._handle(msg)
        except Exception:
            log.exception("worker %s: job crashed outside the handler", self.kind)
        finally:
            self._sem.release()

    async def _pulse(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.ack_wait / 3)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _reply_error(
        self, reply_to: str, job_id: str, code: JobErrorCode, message: str
    ) -> None:
        if not reply_to or not job_id:
            return
        err = JobError(job_id=job_id, kind=self.kind, code=code, message=message[:500])
        with contextlib.suppress(Exception):
            await publish_retrying(
                self.js,
                reply_to,
                encode(err),
                {subjects.HDR_MSG_ID: f"{job_id}:error"},
                budget=2.0,
            )

    async def _handle(self, msg: Msg) -> None:
        hdrs = msg.headers or {}
        job_id = hdrs.get(subjects.HDR_MSG_ID, "")
        reply_to = hdrs.get(subjects.HDR_REPLY_TO, "")
        try:
            deadline = float(hdrs.get(subjects.HDR_DEADLINE, "0")) or time.time() + 60
        except ValueError:
            deadline = time.time() + 60
        attempt = msg.metadata.num_delivered if msg.metadata else 1
        if attempt > 1:
            self.stats.redelivered += 1
        if time.time() > deadline:
            self.stats.expired += 1
            await msg.term()
            return
        try:
            job = decode_job(msg.data)
        except BadMessage as exc:
            self.stats.failed += 1
            await msg.term()
            await self._reply_error(reply_to, job_id, "bad_input", exc.reason)
            return
        if not subjects.is_session_result(reply_to):
            self.stats.failed += 1
            await msg.term()
            log.warning("worker %s: job %s has no valid reply subject", self.kind, job_id)
            return
        ctx = JobContext(job.job_id, self.kind, reply_to, deadline, attempt)
        started = time.perf_counter()
        pulse = asyncio.create_task(self._pulse(msg))
        n = 0
        try:
            async for result in self.handler(job, ctx):
                await publish_retrying(
                    self.js,
                    reply_to,
                    encode(result),
                    {subjects.HDR_MSG_ID: f"{job.job_id}:{n}"},
                    budget=max(ctx.remaining(), 2.0),
                )
                n += 1
        except BadJob as exc:
            self.stats.failed += 1
            await msg.term()
            await self._reply_error(reply_to, job.job_id, "bad_input", str(exc))
            return
        except asyncio.CancelledError:
            # Stopping: hand the job back at once so another worker takes it.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(msg.nak(), 1.0)
            raise
        except Exception as exc:
            self.stats.failed += 1
            if attempt >= self.max_deliver:
                await msg.term()
                await self._reply_error(reply_to, job.job_id, "failed", repr(exc))
            else:
                delay = min(0.25 * 2 ** (attempt - 1), 8.0)
                log.warning(
                    "worker %s: job %s failed (%r), retry in %.2fs",
                    self.kind,
                    job.job_id,
                    exc,
                    delay,
                )
                await msg.nak(delay=delay)
            return
        finally:
            pulse.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pulse
        await msg.ack()
        self.stats.done += 1
        self.stats.record((time.perf_counter() - started) * 1000)
