"""The LLM actor: live ``llm`` jobs (questions, follow-ups) and background ``assess`` jobs."""

from __future__ import annotations

__all__ = ["LlmActor", "assessment_result", "sentence_results"]

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from nats.aio.client import Client

from actors.models.engines import EngineCancelled, LlmEngine, PrefillsAnswers
from actors.models.service.base import ModelActor, elapsed_ms
from bus import jobs
from bus.worker import BadJob, JobContext, JobWorker

log = logging.getLogger(__name__)


def assessment_result(
    job: jobs.LlmJob, ctx: JobContext, data: dict[str, Any] | str | None, started: float
) -> jobs.Result:
    """The result of an assessment job (its rubric) or of an outline or claims job (its
    text, a ``str``), or ``JobError(code="deadline")`` for None (stopped at its deadline:
    never a late rubric)."""
    if data is None:
        return jobs.JobError(
            job_id=job.job_id,
            kind=ctx.kind,
            code="deadline",
            message="assessment stopped at its deadline",
        )
    if isinstance(data, str):  # an outline
        return jobs.LlmDone(job_id=job.job_id, text=data, latency_ms=elapsed_ms(started))
    rubric = msgspec.convert(data, jobs.Rubric)  # the engine's dict, checked and typed
    return jobs.LlmDone(job_id=job.job_id, text="", rubric=rubric, latency_ms=elapsed_ms(started))


async def sentence_results(
    job: jobs.LlmJob, sentences: AsyncIterator[str], started: float
) -> AsyncIterator[jobs.Result]:
    """An ``LlmSentence`` per sentence as it comes, then ``LlmDone`` with the whole text."""
    said: list[str] = []
    ttft = 0
    async for sentence in sentences:
        if not said:
            ttft = elapsed_ms(started)
        yield jobs.LlmSentence(job_id=job.job_id, index=len(said), text=sentence)
        said.append(sentence)
    yield jobs.LlmDone(
        job_id=job.job_id,
        text=" ".join(said),
        sentences=len(said),
        ttft_ms=ttft,
        latency_ms=elapsed_ms(started),
    )


class LlmActor(ModelActor):
    """Serves live ``llm`` jobs and, at lower priority, ``assess`` jobs on one engine: the
    assess worker fetches only while no live job is running, and a live job that arrives
    while an assessment runs preempts it: the assessment is cancelled (within one token, or
    one graph node of its prompt), waits until no live job runs, and resumes from its KV
    snapshot (the part of its prompt already evaluated is not evaluated again). So a live
    question or follow-up never waits behind an assessment.

    Each job's engine call gets a cancel Event, set at the job's deadline (the session has
    moved on by then) and when the job's task is cancelled (the actor stops). A generation
    cut at its deadline ends with the sentences it has; an assessment cut at its deadline
    ends with ``JobError(code="deadline")``, never a late rubric.

    ``prefill`` jobs (the answer so far, while the candidate speaks) ride the assess queue
    and go the same way, except that a preempted or expired one is simply dropped: it only
    saves the assessment some reading. An engine without ``prefill`` answers them at once.
    """

    kind = "llm"

    def __init__(self, nc: Client, engine: LlmEngine, **kw: Any) -> None:
        super().__init__(nc, engine.name, **kw)
        self.engine = engine
        self._live: JobWorker | None = None
        self._background: threading.Event | None = None
        self._preempted = False
        self.preemptions = 0

    def _preempt(self) -> None:
        """A live job arrived: stop the running assessment at once (it resumes later)."""
        if self._background is not None and not self._background.is_set():
            self._preempted = True
            self.preemptions += 1
            self._background.set()

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "preemptions": self.preemptions}

    async def _assess(self, job: jobs.LlmJob, ctx: JobContext) -> dict[str, Any] | str | None:
        """Run the assessment (or, for task ``outline``, the outline: text), resuming it
        after each preemption; None at the deadline."""
        while True:
            while self._live is not None and self._live.busy:  # let live work go first
                if ctx.remaining() <= 0:
                    break
                await asyncio.sleep(0.05)
            if ctx.remaining() <= 0:
                return None
            cancel = threading.Event()
            timer = asyncio.get_running_loop().call_later(ctx.remaining(), cancel.set)
            self._background, self._preempted = cancel, False
            try:
                if job.task == "outline":
                    outline: str = await self.run_sync(self.engine.outline, job, cancel)
                    return outline
                if job.task == "claims":
                    picks: str = await self.run_sync(self.engine.claims, job, cancel)
                    return picks
                return await self.run_sync(self.engine.assess, job, cancel)
            except EngineCancelled:
                if not self._preempted:
                    return None  # its deadline
                log.debug("llm: assessment %s preempted by a live job", job.job_id)
            finally:
                timer.cancel()
                cancel.set()
                if self._background is cancel:
                    self._background = None

    async def _prefill(self, job: jobs.LlmJob, ctx: JobContext) -> int:
        """Read the answer so far into the engine's cache unless live work is running."""
        engine = self.engine
        if not isinstance(engine, PrefillsAnswers):
            return 0
        if (self._live is not None and self._live.busy) or ctx.remaining() <= 0:
            return 0
        cancel = threading.Event()
        timer = asyncio.get_running_loop().call_later(ctx.remaining(), cancel.set)
        self._background, self._preempted = cancel, False
        try:
            return await self.run_sync(engine.prefill, job, cancel)
        finally:
            timer.cancel()
            cancel.set()
            if self._background is cancel:
                self._background = None

    def _load_sync(self) -> None:
        self.engine.load()
        warm_up = getattr(self.engine, "warm_up", None)
        if callable(warm_up):
            warm_up()  # one token through the model: enough to prove it and page it in
            return
        warm = jobs.LlmJob(
            job_id="warmup",
            session_id="warmup00",
            task="question",
            language="en",
            role="general",
            max_tokens=4,
        )
        for _ in self.engine.generate(warm, threading.Event()):
            break

    def handlers(self) -> list[JobWorker]:
        self._live = JobWorker(self.js, "llm", self.handle, concurrency=1)
        assess = JobWorker(
            self.js,
            "assess",
            self.handle,
            concurrency=1,
            may_fetch=lambda: self._live is not None and self._live.busy == 0,
        )
        return [self._live, assess]

    def stop_grace(self, worker: JobWorker) -> float:
        # An assessment runs for minutes and starts over on any actor: hand it back now.
        return 0.0 if worker.kind == "assess" else super().stop_grace(worker)

    async def handle(self, job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
        if not isinstance(job, jobs.LlmJob):
            raise BadJob("llm actor got a non-llm job")
        started = time.perf_counter()
        if job.task == "prefill":
            read = await self._prefill(job, ctx)
            log.debug("llm: prefill %s read %d tokens", job.job_id, read)
            yield jobs.LlmDone(job_id=job.job_id, text="", latency_ms=elapsed_ms(started))
            return
        if job.task in ("assess", "outline", "claims"):
            yield assessment_result(job, ctx, await self._assess(job, ctx), started)
            return
        self._preempt()
        cancel = threading.Event()
        timer = asyncio.get_running_loop().call_later(max(ctx.remaining(), 0.1), cancel.set)
        try:
            sentences = self.stream_sync(lambda: self.engine.generate(job, cancel), cancel)
            async for result in sentence_results(job, sentences, started):
                yield result
        finally:
            timer.cancel()
            cancel.set()  # a cancelled task (stopping) frees the engine at its next token
