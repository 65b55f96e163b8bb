"""The LLM actor for a remote inference server: the same ``llm`` and ``assess`` jobs as
:class:`~actors.models.service.llm.LlmActor`, served by an
:class:`~actors.models.remote.llm_openai.OpenAiLlm` with many requests in flight.

No engine thread and no preemption: the server batches, so live jobs (up to the engine's
``concurrency``) run side by side, and assessments are fetched only while fewer than
``concurrency`` requests are in flight, so a live question never queues behind them here
(the server's own queue is the operator's to size). Deadlines are the jobs' own: a question
cut at its deadline ends with the sentences it has, an assessment cut at its deadline ends
with ``JobError(code="deadline")``; server trouble naks the job (JetStream redelivers it).
``prefill`` jobs (the answer so far) are answered at once: the server caches prefixes itself.
"""

from __future__ import annotations

__all__ = ["RemoteLlmActor"]

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from nats.aio.client import Client

from actors.models.engines import EngineCancelled
from actors.models.remote.llm_openai import OpenAiLlm
from actors.models.service.base import ModelActor, elapsed_ms
from actors.models.service.llm import assessment_result, sentence_results
from bus import jobs
from bus.worker import BadJob, JobContext, JobWorker


class RemoteLlmActor(ModelActor):
    kind = "llm"

    def __init__(self, nc: Client, engine: OpenAiLlm, **kw: Any) -> None:
        super().__init__(nc, engine.name, concurrency=engine.concurrency, **kw)
        self.engine = engine

    async def load(self) -> None:
        started = time.perf_counter()
        await self.engine.load()
        self.engine_name = self.engine.name
        self.load_s = time.perf_counter() - started

    def handlers(self) -> list[JobWorker]:
        n = self.engine.concurrency
        live = JobWorker(self.js, "llm", self.handle, concurrency=n)
        assess = JobWorker(
            self.js,
            "assess",
            self.handle,
            concurrency=n,
            may_fetch=lambda: self.engine.in_flight < n,
        )
        return [live, assess]

    def stats(self) -> dict[str, Any]:
        return {
            **super().stats(),
            "in_flight": self.engine.in_flight,
            "deltas": self.engine.deltas,
            "structured": self.engine.structured or "",
        }

    async def stop(self) -> None:
        await super().stop()
        await self.engine.close()

    def stop_grace(self, worker: JobWorker) -> float:
        return 0.0 if worker.kind == "assess" else super().stop_grace(worker)

    async def handle(self, job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
        if not isinstance(job, jobs.LlmJob):
            raise BadJob("llm actor got a non-llm job")
        started = time.perf_counter()
        if job.task == "prefill":
            # Reading a partial answer ahead saves the embedded engine its prefill; a server
            # keeps its own prefix cache, and a request just to fill it would cost a slot.
            yield jobs.LlmDone(job_id=job.job_id, text="", latency_ms=elapsed_ms(started))
            return
        if job.task in ("assess", "outline", "claims"):
            data: dict[str, Any] | str | None
            try:
                if job.task == "outline":
                    data = await self.engine.outline(job, ctx.deadline)
                elif job.task == "claims":
                    data = await self.engine.claims(job, ctx.deadline)
                else:
                    data = await self.engine.assess(job, ctx.deadline)
            except EngineCancelled:
                data = None
            yield assessment_result(job, ctx, data, started)
            return
        deadline = max(ctx.deadline, time.time() + 0.1)
        async with contextlib.aclosing(self.engine.generate(job, deadline)) as stream:
            async for result in sentence_results(job, stream, started):
                yield result
