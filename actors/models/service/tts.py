"""The TTS actor: routes ``tts`` jobs by language to one engine each and streams PCM chunks,
serving repeated phrases from :class:`~actors.models.service.tts_cache.TtsCache`.

A language may have a remote voice (a speech server, :mod:`actors.models.remote.tts_openai`)
with the embedded one as its backup (:meth:`TtsRouter.backup_for`): when the server fails
before the first audio, the backup speaks the text instead; when it fails mid-stream (it
died, or went silent), the backup speaks the text again from its start (a repeated half
sentence is better than a lost one). Every chunk carries its own sample rate, so the two
voices may differ. Only audio of one engine is cached, under that engine's name.
"""

from __future__ import annotations

__all__ = ["CHUNK_BYTES", "TtsActor"]

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from nats.aio.client import Client
from nats.js.object_store import ObjectStore

from actors.models.engines import EngineError, TtsEngine
from actors.models.engines.tts_router import TtsRouter
from actors.models.service.base import ModelActor, elapsed_ms
from actors.models.service.tts_cache import TtsCache
from bus import jobs
from bus.worker import BadJob, JobContext, JobWorker

log = logging.getLogger(__name__)

#: Bytes of PCM per chunk when cached audio is replayed.
CHUNK_BYTES = 8192


class TtsActor(ModelActor):
    """Routes by language to one engine each; caches audio by hash(engine, voice, text) in
    the object store, so a repeated phrase costs a lookup. With a thread-safe (remote)
    engine it keeps that engine's ``concurrency`` utterances in flight; embedded engines
    still speak one utterance at a time each."""

    kind = "tts"

    def __init__(self, nc: Client, router: TtsRouter, store: ObjectStore, **kw: Any) -> None:
        remote = [e for e in router.engines() if getattr(e, "thread_safe", False)]
        if remote:
            kw.setdefault("concurrency", max(int(getattr(e, "concurrency", 1)) for e in remote))
            kw.setdefault("threads", kw["concurrency"])
        names = [e.name for e in router.engines()]
        super().__init__(nc, "+".join(names), **kw)
        self.router = router
        self.cache = TtsCache(store)
        self.cache_hits = 0
        self.fallbacks = 0
        self._locks = {
            id(e): threading.Lock()
            for e in router.engines()
            if not getattr(e, "thread_safe", False)
        }

    def _load_sync(self) -> None:
        self.router.load()
        for e in self.router.engines():
            if getattr(e, "thread_safe", False):
                continue  # a remote voice said its word at load, or is down (the backup speaks)
            for _ in e.synthesize("Hello."):
                break

    def handlers(self) -> list[JobWorker]:
        return [JobWorker(self.js, "tts", self.handle, concurrency=self.concurrency)]

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "cache_hits": self.cache_hits, "fallbacks": self.fallbacks}

    def _chunks(self, engine: TtsEngine, text: str, deadline: float) -> Iterator[tuple[int, bytes]]:
        """(sample rate, PCM) from ``engine``, on the engine thread; an embedded engine is
        held for the whole utterance (it speaks one at a time)."""
        stream = getattr(engine, "stream", None)
        if callable(stream):
            yield from stream(text, deadline)
            return
        lock = self._locks.get(id(engine))
        with lock if lock is not None else contextlib.nullcontext():
            for pcm in engine.synthesize(text):
                yield engine.sample_rate, pcm

    async def _speak(
        self,
        engine: TtsEngine,
        job: jobs.TtsJob,
        text: str,
        ctx: JobContext,
        first: int,
        cached: list[bool],
    ) -> AsyncIterator[jobs.TtsChunk]:
        """``engine``'s chunks of ``text`` (numbered from ``first``), from the cache when it
        has them (then ``cached`` gets True); caches what it synthesised. Raises
        :class:`EngineError` on failure."""
        key = self.cache.key(engine.name, job.voice, text)
        hit = await self.cache.get(key)
        if hit is not None:
            self.cache_hits += 1
            cached.append(True)
            rate, pcm = hit
            for i in range(0, len(pcm), CHUNK_BYTES):
                yield jobs.TtsChunk(
                    job_id=job.job_id, index=first, sample_rate=rate, pcm=pcm[i : i + CHUNK_BYTES]
                )
                first += 1
            return
        parts: list[bytes] = []
        rates: set[int] = set()
        async for rate, pcm in self.stream_sync(lambda: self._chunks(engine, text, ctx.deadline)):
            parts.append(pcm)
            rates.add(rate)
            yield jobs.TtsChunk(job_id=job.job_id, index=first, sample_rate=rate, pcm=pcm)
            first += 1
        if len(rates) == 1:
            await self.cache.put(key, text, rates.pop(), b"".join(parts))

    async def handle(self, job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
        if not isinstance(job, jobs.TtsJob):
            raise BadJob("tts actor got a non-tts job")
        try:
            engine = self.router.engine_for(job.language)
        except EngineError as exc:
            raise BadJob(str(exc)) from None
        backup = self.router.backup_for(job.language)
        text = " ".join(job.text.split())[:2000]
        started = time.perf_counter()
        chunks: list[jobs.TtsChunk] = []
        cached: list[bool] = []
        try:
            async for chunk in self._speak(engine, job, text, ctx, 0, cached):
                chunks.append(chunk)
                yield chunk
        except EngineError as exc:
            if backup is None:
                raise
            self.fallbacks += 1
            log.warning(
                "tts: %s failed %s (%s); %s speaks it",
                engine.name,
                "mid-stream" if chunks else "before any audio",
                exc,
                backup.name,
            )
            async for chunk in self._speak(backup, job, text, ctx, len(chunks), cached):
                chunks.append(chunk)
                yield chunk
        yield jobs.TtsDone(
            job_id=job.job_id,
            chunks=len(chunks),
            audio_ms=sum(len(c.pcm) * 500 // max(c.sample_rate, 1) for c in chunks),
            cached=bool(cached),
            latency_ms=elapsed_ms(started),
        )
