"""The STT actor: serves ``stt`` jobs (one speech segment each) on one engine thread."""

from __future__ import annotations

__all__ = ["SttActor"]

import time
from collections.abc import AsyncIterator
from typing import Any

from nats.aio.client import Client

from actors.models.engines import SttEngine
from actors.models.service.base import ModelActor, elapsed_ms
from bus import jobs
from bus.worker import BadJob, JobContext, JobWorker


class SttActor(ModelActor):
    kind = "stt"

    def __init__(self, nc: Client, engine: SttEngine, **kw: Any) -> None:
        # A thread-safe engine (a remote server) takes segments side by side.
        if getattr(engine, "thread_safe", False):
            kw.setdefault("concurrency", int(getattr(engine, "concurrency", 1)))
            kw.setdefault("threads", kw["concurrency"])
        super().__init__(nc, engine.name, **kw)
        self.engine = engine

    def _load_sync(self) -> None:
        self.engine.load()
        self.engine.transcribe(b"\0\0" * 16000, 16000, "en")  # warm-up

    def handlers(self) -> list[JobWorker]:
        return [JobWorker(self.js, "stt", self.handle, concurrency=self.concurrency)]

    async def handle(self, job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
        if not isinstance(job, jobs.SttJob):
            raise BadJob("stt actor got a non-stt job")
        if len(job.pcm) % 2 or job.sample_rate != 16000:
            raise BadJob("stt needs PCM16LE mono at 16 kHz")
        started = time.perf_counter()
        res = await self.run_sync(
            self.engine.transcribe, job.pcm, job.sample_rate, job.language, job.prompt
        )
        yield jobs.SttResult(
            job_id=job.job_id,
            text=res.text,
            no_speech=res.no_speech,
            segment=job.segment,
            audio_ms=res.audio_ms,
            latency_ms=elapsed_ms(started),
        )
