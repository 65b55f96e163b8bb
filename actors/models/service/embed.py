"""The embedding actor: ingests résumés and job postings into pgvector and answers top-k
searches (RAG); relates texts by meaning (requirements to claims, an answer to its question,
which sentences talk to the grader: :mod:`actors.models.relate`); seeds the question bank's
embeddings once at start (into a fresh database; the vectors themselves are kept in the
model cache, so only the first start with this embedder computes them)."""

from __future__ import annotations

__all__ = ["EmbedActor", "bank_vectors"]

import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt
from nats.aio.client import Client

from actors.models import assets
from actors.models.chunking import chunk_text
from actors.models.engines import Embedder
from actors.models.engines.state_store import StateStore
from actors.models.relate import GraderClassifier, relate
from actors.models.service.base import ModelActor
from bus import jobs
from bus.worker import BadJob, JobContext, JobWorker
from persistence import chunks

log = logging.getLogger(__name__)


def bank_vectors(
    engine: Embedder, lang: str, texts: list[str], root: Path
) -> npt.NDArray[np.float32]:
    """The bank's passages of ``lang`` embedded by ``engine``: from the on-disk store under
    ``root`` when this embedder did it before (a fresh database then costs a file read,
    not tens of seconds of embedding on two cores), else computed and saved there."""
    store = StateStore(root, {"embedder": engine.name, "dim": str(engine.dim)}, max_bytes=64 << 20)
    text = "\n".join(texts)
    data = store.get(f"bank-{lang}", text, [])
    if data is not None:
        vecs = np.frombuffer(data, dtype="<f4").reshape(-1, engine.dim)
        if len(vecs) == len(texts):
            return vecs.astype(np.float32)
    vecs = np.asarray(engine.embed_passages(texts), dtype=np.float32)
    store.put(f"bank-{lang}", text, [], vecs.astype("<f4").tobytes())
    return vecs


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
        self.grader = GraderClassifier(engine)

    def _load_sync(self) -> None:
        self.engine.load()
        self.engine.embed_queries(["warm up"])
        self.grader.fit()

    async def load(self) -> None:
        await super().load()
        await self._seed_bank()

    async def _seed_bank(self) -> None:
        stored = await chunks.count_shared(self.pool, kind="bank", embedder=self.engine.name)
        if stored >= len(self.bank):
            return
        for lang in sorted({b[0] for b in self.bank}):
            texts = [t for (lg, _r, t) in self.bank if lg == lang]
            vecs = await self.run_sync(
                bank_vectors, self.engine, lang, texts, assets.cache_dir() / "embed-state"
            )
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
        if job.op == "relate":
            yield await self.run_sync(relate, self.engine, self.grader, job)
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
