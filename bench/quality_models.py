"""The models behind the quality benchmark, in threads, behaving like the model actors.

- :class:`Scheduler`: one LLM engine thread, live jobs (questions, follow-ups) first, a
  running assessment preempted by a live job and resumed afterwards (what the LLM actor
  does).
- :class:`EmbedService`: the embedding model and its grader classifier answering
  ``relate`` jobs (the embed actor's code path, :func:`actors.models.relate.relate`);
  ``ingest``/``search`` come back empty (the plan does not use retrieval).
- :class:`RemoteLlm`: an OpenAI-compatible server (``--llm URL``) behind the synchronous
  engine interface the scheduler drives.
"""

from __future__ import annotations

__all__ = ["EmbedService", "RemoteLlm", "Scheduler", "build_embedder"]

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from actors.models.engines import EngineCancelled, LlmEngine
from actors.models.relate import GraderClassifier, relate
from bus import jobs as jb

log = logging.getLogger(__name__)


@dataclass(order=True)
class _Item:
    priority: int
    seq: int
    job: jb.LlmJob = field(compare=False)
    deadline: float = field(compare=False)


class Scheduler:
    """One engine thread. Live jobs first; a live job preempts a running assessment,
    which goes back to the front of the queue and resumes (its KV prefix is kept)."""

    def __init__(self, engine: LlmEngine, results: queue.Queue[jb.Result]) -> None:
        self.engine = engine
        self.results = results
        self._q: queue.PriorityQueue[_Item] = queue.PriorityQueue()
        self._seq = 0
        self._running_assess: threading.Event | None = None
        self._lock = threading.Lock()
        self.preemptions = 0
        self.dropped: set[str] = set()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="llm-engine", daemon=True)
        self._thread.start()

    def submit(self, job: jb.LlmJob, deadline: float) -> None:
        if job.task in ("outline", "prefill"):
            # Not measured here: the outline comes after the report, and typed answers are
            # never prefilled. Refused at once, the way the session sees an absent actor.
            self.results.put(
                jb.JobError(
                    job_id=job.job_id,
                    kind="assess",
                    code="unavailable",
                    message="not run by the quality benchmark",
                )
            )
            return
        live = job.task not in ("assess", "claims")
        with self._lock:
            self._seq += 1
            self._q.put(_Item(0 if live else 1, self._seq, job, deadline))
            if live and self._running_assess is not None:
                self.preemptions += 1
                self._running_assess.set()

    def stop(self) -> None:
        self._stop = True
        stop = jb.LlmJob(job_id="stop", session_id="", task="question", language="en", role="")
        self._q.put(_Item(-1, 0, stop, 0.0))
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop:
            item = self._q.get()
            if self._stop:
                return
            job = item.job
            if job.session_id in self.dropped:  # its interview is over
                continue
            if time.monotonic() > item.deadline:
                self.results.put(
                    jb.JobError(job_id=job.job_id, kind="llm", code="deadline", message="expired")
                )
                continue
            started = time.monotonic()
            if job.task == "claims":  # the résumé's reading: background, whole
                try:
                    text = self.engine.claims(job, threading.Event())
                except Exception as exc:  # a failed reading only costs the rules' plan
                    log.warning("claims failed: %s", exc)
                    text = '{"claims": []}'
                self.results.put(jb.LlmDone(job_id=job.job_id, text=text))
                continue
            if job.task == "assess":
                cancel = threading.Event()
                with self._lock:
                    self._running_assess = cancel
                try:
                    data = self.engine.assess(job, cancel)
                except EngineCancelled:
                    with self._lock:
                        self._running_assess = None
                        self._q.put(_Item(1, -item.seq, job, item.deadline))  # resume first
                    continue
                with self._lock:
                    self._running_assess = None
                self.results.put(
                    jb.LlmDone(
                        job_id=job.job_id,
                        text="",
                        rubric=msgspec.convert(data, jb.Rubric),
                        latency_ms=int((time.monotonic() - started) * 1000),
                    )
                )
                continue
            sentences: list[str] = []
            try:
                for s in self.engine.generate(job, threading.Event()):
                    self.results.put(
                        jb.LlmSentence(job_id=job.job_id, index=len(sentences), text=s)
                    )
                    sentences.append(s)
            except Exception as exc:  # the engine thread lives on, as the actor would
                log.warning("%s failed: %s", job.task, exc)
                self.results.put(
                    jb.JobError(job_id=job.job_id, kind="llm", code="failed", message=str(exc))
                )
                continue
            self.results.put(
                jb.LlmDone(
                    job_id=job.job_id,
                    text=" ".join(sentences),
                    sentences=len(sentences),
                    latency_ms=int((time.monotonic() - started) * 1000),
                )
            )


def build_embedder(models: str) -> Any:
    """The embedder the node would use (``real``: multilingual e5), loaded."""
    if models == "deterministic":
        from actors.models.engines.deterministic import DeterministicEmbedder

        engine: Any = DeterministicEmbedder()
    else:
        from actors.models.engines.embed_e5 import E5Embedder

        engine = E5Embedder(num_threads=1)
    engine.load()
    return engine


class EmbedService:
    """Answers embed jobs in a thread of its own, like the embed actor's process."""

    def __init__(self, embedder: Any, results: queue.Queue[jb.Result]) -> None:
        self.embedder = embedder
        self.classifier = GraderClassifier(embedder)
        self.classifier.fit()
        self.results = results
        self._q: queue.Queue[jb.EmbedJob | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="embed", daemon=True)
        self._thread.start()

    def submit(self, job: jb.EmbedJob) -> None:
        self._q.put(job)

    def relate_now(self, job: jb.EmbedJob) -> jb.EmbedResult:
        """The answer to ``job`` on the calling thread (the standalone answer sets)."""
        return relate(self.embedder, self.classifier, job)

    def stop(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            job = self._q.get()
            if job is None:
                return
            if job.op == "relate":
                self.results.put(relate(self.embedder, self.classifier, job))
            else:
                self.results.put(jb.EmbedResult(job_id=job.job_id, chunks=[], stored=0))


class RemoteLlm:
    """An OpenAI-compatible server behind the synchronous :class:`LlmEngine` interface:
    the async engine (:class:`actors.models.remote.llm_openai.OpenAiLlm`) runs on an event
    loop in a thread of its own; calls wait for it (bounded by ``timeout_s``)."""

    def __init__(self, url: str, model: str = "", timeout_s: float = 120.0) -> None:
        from actors.models.remote.config import RemoteConfig
        from actors.models.remote.llm_openai import OpenAiLlm

        self._engine = OpenAiLlm(RemoteConfig(url=url, model=model, concurrency=2))
        self.name = self._engine.name
        self._timeout = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._timeout + 5)

    def load(self) -> None:
        self._run(self._engine.load())
        self.name = self._engine.name

    def generate(self, job: jb.LlmJob, cancel: threading.Event) -> Generator[str, None, None]:
        out: queue.Queue[str | None] = queue.Queue()
        deadline = time.time() + self._timeout

        async def pump() -> None:
            try:
                async for sentence in self._engine.generate(job, deadline):
                    out.put(sentence)
            finally:
                out.put(None)

        asyncio.run_coroutine_threadsafe(pump(), self._loop)
        while (sentence := out.get(timeout=self._timeout + 5)) is not None:
            if cancel.is_set():
                return
            yield sentence

    def assess(self, job: jb.LlmJob, cancel: threading.Event | None = None) -> dict[str, Any]:
        data: dict[str, Any] = self._run(self._engine.assess(job, time.time() + self._timeout))
        return data

    def outline(self, job: jb.LlmJob, cancel: threading.Event | None = None) -> str:
        text: str = self._run(self._engine.outline(job, time.time() + self._timeout))
        return text

    def claims(self, job: jb.LlmJob, cancel: threading.Event | None = None) -> str:
        text: str = self._run(self._engine.claims(job, time.time() + self._timeout))
        return text

    def close(self) -> None:
        self._run(self._engine.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
