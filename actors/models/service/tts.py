"""The TTS actor: routes ``tts`` jobs by language to one engine each and streams PCM chunks,
serving repeated phrases from :class:`~actors.models.service.tts_cache.TtsCache`."""

from __future__ import annotations

__all__ = ["CHUNK_BYTES", "TtsActor"]

import time
from collections.abc import AsyncIterator
from typing import Any

from nats.aio.client import Client
from nats.js.object_store import ObjectStore

from actors.models.engines import EngineError
from actors.models.engines.tts_router import TtsRouter
from actors.models.service.base import ModelActor, elapsed_ms
from actors.models.service.tts_cache import TtsCache
from bus import jobs
from bus.worker import BadJob, JobContext, JobWorker

#: Bytes of PCM per chunk when cached audio is replayed.
CHUNK_BYTES = 8192


class TtsActor(ModelActor):
    """Routes by language to one engine each; caches audio by hash(engine, voice, text) in
    the object store, so a repeated phrase costs a lookup."""

    kind = "tts"

    def __init__(self, nc: Client, router: TtsRouter, store: ObjectStore, **kw: Any) -> None:
        super().__init__(nc, "+".join(e.name for e in router.engines()), **kw)
        self.router = router
        self.cache = TtsCache(store)
        self.cache_hits = 0

    def _load_sync(self) -> None:
        self.router.load()
        for e in self.router.engines():
            for _ in e.synthesize("Hello."):
                break

    def handlers(self) -> list[JobWorker]:
        return [JobWorker(self.js, "tts", self.handle, concurrency=self.concurrency)]

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "cache_hits": self.cache_hits}

    async def _replay(
        self, job: jobs.TtsJob, rate: int, pcm: bytes, started: float
    ) -> AsyncIterator[jobs.Result]:
        n = 0
        for i in range(0, len(pcm), CHUNK_BYTES):
            yield jobs.TtsChunk(
                job_id=job.job_id, index=n, sample_rate=rate, pcm=pcm[i : i + CHUNK_BYTES]
            )
            n += 1
        yield jobs.TtsDone(
            job_id=job.job_id,
            chunks=n,
            audio_ms=len(pcm) * 500 // rate,
            cached=True,
            latency_ms=elapsed_ms(started),
        )

    async def handle(self, job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
        if not isinstance(job, jobs.TtsJob):
            raise BadJob("tts actor got a non-tts job")
        try:
            engine = self.router.engine_for(job.language)
        except EngineError as exc:
            raise BadJob(str(exc)) from None
        text = " ".join(job.text.split())[:2000]
        started = time.perf_counter()
        key = self.cache.key(engine.name, job.voice, text)
        hit = await self.cache.get(key)
        if hit is not None:
            self.cache_hits += 1
            async for result in self._replay(job, *hit, started):
                yield result
            return
        parts: list[bytes] = []
        n = 0
        async for pcm in self.stream_sync(lambda: engine.synthesize(text)):
            parts.append(pcm)
            yield jobs.TtsChunk(job_id=job.job_id, index=n, sample_rate=engine.sample_rate, pcm=pcm)
            n += 1
        audio = b"".join(parts)
        await self.cache.put(key, text, engine.sample_rate, audio)
        yield jobs.TtsDone(
            job_id=job.job_id,
            chunks=n,
            audio_ms=len(audio) * 500 // max(engine.sample_rate, 1),
            latency_ms=elapsed_ms(started),
        )
