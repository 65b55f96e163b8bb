"""The async model actors: each wraps one engine and serves one job kind from JetStream.

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

__all__ = [
    "STOP_GRACE_S",
    "STOP_WAIT_S",
    "EmbedActor",
    "LlmActor",
    "ModelActor",
    "SttActor",
    "TtsActor",
    "chunk_text",
]

import asyncio
import contextlib
import hashlib
import logging
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg
import msgspec
import nats.micro
from nats.aio.client import Client
from nats.js.object_store import ObjectStore

from actors.models.engines import Embedder, EngineCancelled, EngineError, LlmEngine, SttEngine
from actors.models.tts_router import TtsRouter
from bus import jobs
from bus.worker import BadJob, JobContext, JobWorker
from persistence import chunks

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

    def __init__(self, nc: Client, engine_name: str, *, concurrency: int = 1) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.engine_name = engine_name
        self.concurrency = concurrency
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.kind}-engine")
        self.workers: list[JobWorker] = []
        self.service: Any = None
        self.ready = False
        self.load_s = 0.0

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
        """Load and warm the engine. Subclasses implement :meth:`_load_sync`."""
        started = time.perf_counter()
        log.info("%s: loading %s ...", self.kind, self.engine_name)
        await self.run_sync(self._load_sync)
        self.load_s = time.perf_counter() - started
        log.info("%s: %s ready in %.1fs", self.kind, self.engine_name, self.load_s)

    def _load_sync(self) -> None:
        raise NotImplementedError

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


def _ms(since: float) -> int:
    return int((time.perf_counter() - since) * 1000)


# --- STT ----------------------------------------------------------------------------------


class SttActor(ModelActor):
    kind = "stt"

    def __init__(self, nc: Client, engine: SttEngine, **kw: Any) -> None:
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
            latency_ms=_ms(started),
        )


# --- LLM ----------------------------------------------------------------------------------


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

    async def _assess(self, job: jobs.LlmJob, ctx: JobContext) -> dict[str, Any] | None:
        """Run the assessment, resuming it after each preemption; None at the deadline."""
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

    def _load_sync(self) -> None:
        self.engine.load()
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
        if job.task == "assess":
            data = await self._assess(job, ctx)
            if data is None:
                yield jobs.JobError(
                    job_id=job.job_id,
                    kind=ctx.kind,
                    code="deadline",
                    message="assessment stopped at its deadline",
                )
                return
            rubric = msgspec.convert(data, jobs.Rubric)  # the engine's dict, checked and typed
            yield jobs.LlmDone(job_id=job.job_id, text="", rubric=rubric, latency_ms=_ms(started))
            return
        self._preempt()
        cancel = threading.Event()
        timer = asyncio.get_running_loop().call_later(max(ctx.remaining(), 0.1), cancel.set)
        try:
            sentences: list[str] = []
            ttft = 0
            async for sentence in self.stream_sync(
                lambda: self.engine.generate(job, cancel), cancel
            ):
                if not sentences:
                    ttft = _ms(started)
                yield jobs.LlmSentence(job_id=job.job_id, index=len(sentences), text=sentence)
                sentences.append(sentence)
            yield jobs.LlmDone(
                job_id=job.job_id,
                text=" ".join(sentences),
                sentences=len(sentences),
                ttft_ms=ttft,
                latency_ms=_ms(started),
            )
        finally:
            timer.cancel()
            cancel.set()  # a cancelled task (stopping) frees the engine at its next token


# --- TTS ----------------------------------------------------------------------------------

_CACHE_HDR = struct.Struct("<I")
CHUNK_BYTES = 8192
MAX_CACHED_TEXT = 600


class TtsActor(ModelActor):
    """Routes by language to one engine each; caches audio by hash(engine, voice, text) in
    the object store, so a repeated phrase (acknowledgments, the greeting, a redelivered
    job) costs a lookup."""

    kind = "tts"

    def __init__(self, nc: Client, router: TtsRouter, store: ObjectStore, **kw: Any) -> None:
        super().__init__(nc, "+".join(e.name for e in router.engines()), **kw)
        self.router = router
        self.store = store
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

    @staticmethod
    def cache_key(engine: str, voice: str, text: str) -> str:
        return hashlib.sha256(f"{engine}\x1f{voice}\x1f{text}".encode()).hexdigest()

    async def _cached(self, key: str) -> bytes | None:
        try:
            res = await asyncio.wait_for(self.store.get(key), 2.0)
        except Exception:
            return None
        return bytes(res.data) if res.data else None

    async def handle(self, job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
        if not isinstance(job, jobs.TtsJob):
            raise BadJob("tts actor got a non-tts job")
        try:
            engine = self.router.engine_for(job.language)
        except EngineError as exc:
            raise BadJob(str(exc)) from None
        text = " ".join(job.text.split())[:2000]
        started = time.perf_counter()
        key = self.cache_key(engine.name, job.voice, text)
        blob = await self._cached(key)
        if blob is not None and len(blob) >= 4:
            self.cache_hits += 1
            rate = _CACHE_HDR.unpack_from(blob)[0]
            pcm = blob[4:]
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
                latency_ms=_ms(started),
            )
            return
        parts: list[bytes] = []
        n = 0
        async for pcm in self.stream_sync(lambda: engine.synthesize(text)):
            parts.append(pcm)
            yield jobs.TtsChunk(job_id=job.job_id, index=n, sample_rate=engine.sample_rate, pcm=pcm)
            n += 1
        audio = b"".join(parts)
        if audio and len(text) <= MAX_CACHED_TEXT:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.store.put(key, _CACHE_HDR.pack(engine.sample_rate) + audio), 5.0
                )
        yield jobs.TtsDone(
            job_id=job.job_id,
            chunks=n,
            audio_ms=len(audio) * 500 // max(engine.sample_rate, 1),
            latency_ms=_ms(started),
        )


# --- embeddings + RAG ---------------------------------------------------------------------


def chunk_text(text: str, max_chars: int = 500) -> list[str]:
    """Split a document into paragraph-ish chunks of at most ``max_chars``."""
    out: list[str] = []
    for para in (p.strip() for p in text.replace("\r", "").split("\n\n")):
        if not para:
            continue
        words = para.split()
        cur = ""
        for w in words:
            if len(cur) + len(w) + 1 > max_chars and cur:
                out.append(cur)
                cur = w
            else:
                cur = f"{cur} {w}".strip()
        if cur:
            out.append(cur)
    return out[:64]


class EmbedActor(ModelActor):
    """Ingests résumés and job postings into pgvector and answers top-k searches. Seeds
    the question bank's embeddings once at start."""

    kind = "embed"

    def __init__(
        self,
        nc: Client,
        engine: Embedder,
        pool: asyncpg.Pool,
        bank: Sequence[tuple[str, str, str]] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(nc, engine.name, **kw)
        self.engine = engine
        self.pool = pool
        self.bank = list(bank or [])  # (language, role, text)

    def _load_sync(self) -> None:
        self.engine.load()
        self.engine.embed_queries(["warm up"])

    async def load(self) -> None:
        await super().load()
        await self._seed_bank()

    async def _seed_bank(self) -> None:
        stored = await self.pool.fetchval(
            "SELECT count(*) FROM chunks WHERE session_id IS NULL AND kind = 'bank' "
            "AND embedder = $1",
            self.engine.name,
        )
        if stored >= len(self.bank):
            return
        for lang in sorted({b[0] for b in self.bank}):
            texts = [t for (lg, _r, t) in self.bank if lg == lang]
            vecs = await self.run_sync(self.engine.embed_passages, texts)
            await chunks.add_chunks(
                self.pool,
                session_id=None,
                kind="bank",
                language=lang,
                embedder=self.engine.name,
                contents=texts,
                embeddings=vecs,
            )
        log.info("embed: question bank seeded (%d questions)", len(self.bank))

    def handlers(self) -> list[JobWorker]:
        return [JobWorker(self.js, "embed", self.handle, concurrency=self.concurrency)]

    async def handle(self, job: jobs.Job, ctx: JobContext) -> AsyncIterator[jobs.Result]:
        if not isinstance(job, jobs.EmbedJob):
            raise BadJob("embed actor got a non-embed job")
        if job.op == "ingest":
            pieces = [c for t in job.texts for c in chunk_text(t)]
            if not pieces:
                yield jobs.EmbedResult(job_id=job.job_id, stored=0)
                return
            vecs = await self.run_sync(self.engine.embed_passages, pieces)
            stored = await chunks.add_chunks(
                self.pool,
                session_id=job.session_id,
                kind=job.doc_kind or "document",
                language=job.language,
                embedder=self.engine.name,
                contents=pieces,
                embeddings=vecs,
            )
            yield jobs.EmbedResult(job_id=job.job_id, stored=stored)
            return
        if not job.query.strip():
            raise BadJob("empty query")
        vec = (await self.run_sync(self.engine.embed_queries, [job.query]))[0]
        hits = await chunks.search(
            self.pool,
            vec,
            k=max(1, min(job.k, 10)),
            language=job.language,
            embedder=self.engine.name,
            session_id=job.session_id,
            kinds=("bank",),
        )
        yield jobs.EmbedResult(job_id=job.job_id, chunks=[h.content for h in hits])
