"""The interviewer LLM on an OpenAI-compatible server (``POST /v1/chat/completions``,
streamed): vLLM, llama.cpp's ``llama-server``, llama-cpp-python's server, Ollama, TGI.

Same behaviour as the embedded :class:`actors.models.engines.llm_qwen.QwenLlm`: the same
prompts (as chat messages), sentence streaming that stops reading the moment the question
is complete, and the same assessment validation and retry. What differs:

- It is asynchronous and keeps up to ``concurrency`` requests in flight (the server
  batches them); it must be used from one event loop.
- Deadlines instead of cancel Events: every call gets the job's deadline (wall clock). At
  the deadline the HTTP stream is closed (the server stops generating) and ``generate``
  ends with the sentences it has, ``assess`` raises :class:`EngineCancelled`.
- Structured assessment uses the server's constrained decoding where it has one
  (:data:`~actors.models.remote.config.StructuredMode`; ``auto`` detects it on the first
  assessment) and a validated parse of the JSON object otherwise.
- Chinese characters cannot be banned per token portably: they are removed from the text
  afterwards (as the embedded engine also does).
- Server trouble (refused connection, 429/503, a stream cut before any text) is retried with
  backoff within the deadline, then raised as :class:`RemoteError` so the job queue
  redelivers the job (possibly to another actor, or after the server is back). A stream cut
  after some sentences ends the reply with those sentences.
"""

from __future__ import annotations

__all__ = ["OpenAiLlm"]

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncGenerator
from typing import Any

import httpx2 as httpx
import msgspec

from actors.interview.language import lang_of
from actors.interview.picks import dump_picks, parse_picks
from actors.models.engines import EngineCancelled, EngineError
from actors.models.llm import assess as assessing
from actors.models.llm.claims import render_claims_messages
from actors.models.llm.outline import clean_outline, render_outline_messages
from actors.models.llm.prompts import ASSESS_MAX_TOKENS, MAX_TOKENS_CAP
from actors.models.llm.render import render_messages
from actors.models.llm.sentences import QuestionStream
from actors.models.remote import http
from actors.models.remote.config import RemoteConfig, StructuredMode
from actors.models.remote.http import RemoteError, Unsupported
from actors.models.rubric import ASSESSMENT_SCHEMA, assessment_grammar, fallback_assessment
from bus.jobs import LlmJob
from bus.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_AUTO_ORDER: tuple[StructuredMode, ...] = ("json_schema", "json_object", "none")
_END = object()


class DeadlineReached(EngineCancelled):
    """The job's deadline passed while waiting for the server."""


class OpenAiLlm:
    """See the module docstring. ``load()`` connects (waiting up to ``start_timeout_s``
    for the server) and picks the model; ``close()`` releases the connections."""

    def __init__(self, cfg: RemoteConfig, *, temperature: float = 0.6) -> None:
        self.cfg = cfg
        self.name = f"openai:{cfg.model or 'default'}"
        self.concurrency = cfg.concurrency
        self._temperature = temperature
        self._client: httpx.AsyncClient | None = None
        self._model = cfg.model
        self._structured: StructuredMode | None = (
            None if cfg.structured == "auto" else cfg.structured
        )
        self._slots = asyncio.Semaphore(cfg.concurrency)
        #: Requests in flight now (the actor fetches background work only below
        #: ``concurrency``).
        self.in_flight = 0
        #: Text deltas received in all (a progress counter for metrics and tests).
        self.deltas = 0

    @property
    def structured(self) -> StructuredMode | None:
        """The structured-output mode in use (None: not detected yet)."""
        return self._structured

    # --- lifecycle ----------------------------------------------------------------------

    async def load(self) -> None:
        """Wait for the server (``GET /models``) and pick the model. Raises
        :class:`EngineError` when it is not reachable within ``start_timeout_s`` or does
        not serve the configured model."""
        if self._client is None:
            self._client = http.client(self.cfg)
        deadline = time.time() + self.cfg.start_timeout_s
        async for attempt in http.retrying(deadline, "llm server"):
            with attempt:
                served = await self._models(deadline)
        if self._model and served and self._model not in served:
            raise EngineError(f"the server does not serve {self._model!r} (it has {served})")
        if not self._model:
            if not served:
                raise EngineError("the server lists no model; set PARLEY_LLM_MODEL")
            self._model = served[0]
        self.name = f"openai:{self._model}"
        log.info(
            "LLM: %s at %s, %d in flight, structured output %s",
            self._model,
            self.cfg.url,
            self.concurrency,
            self._structured or "auto-detected on first use",
        )

    async def _models(self, deadline: float) -> list[str]:
        try:
            resp = await self._http().get("/models", timeout=http.timeout(self.cfg, deadline))
        except httpx.TransportError as exc:
            raise http.transport_error(exc) from None
        await http.check_status(resp)
        data = resp.json().get("data") or []
        return [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise EngineError("OpenAiLlm.load() was not called")
        return self._client

    # --- one streamed chat completion -----------------------------------------------------

    async def _produce(
        self, body: dict[str, Any], deadline: float, out: asyncio.Queue[Any]
    ) -> None:
        """Run the request (retrying while nothing was received) and put its text deltas,
        then ``_END`` or the exception, on ``out``."""
        sent = False
        try:
            async for attempt in http.retrying(deadline, "llm"):
                with attempt:
                    try:
                        async with self._http().stream(
                            "POST",
                            "/chat/completions",
                            json=body,
                            timeout=http.timeout(self.cfg, deadline),
                        ) as resp:
                            await http.check_status(resp)
                            async for delta in http.sse_deltas(resp):
                                sent = True
                                self.deltas += 1
                                await out.put(delta)
                    except httpx.TransportError as exc:
                        err = http.transport_error(exc)
                        err.retryable = not sent  # text already out cannot be taken back
                        raise err from None
            await out.put(_END)
        except Exception as exc:  # handed to the consumer
            await out.put(exc)

    async def _chat(self, body: dict[str, Any], deadline: float) -> AsyncGenerator[str, None]:
        """Stream the reply's text; raise :class:`DeadlineReached` at ``deadline``. Closing
        this generator (or the deadline) cancels the request, which closes the HTTP stream
        so the server stops generating."""
        if http.remaining(deadline) <= 0:
            raise DeadlineReached("deadline passed before the request")
        queue: asyncio.Queue[Any] = asyncio.Queue(256)
        async with self._slots:
            self.in_flight += 1
            task = asyncio.create_task(self._produce(body, deadline, queue))
            try:
                while True:
                    try:
                        item = await asyncio.wait_for(
                            queue.get(), max(0.0, http.remaining(deadline))
                        )
                    except TimeoutError:
                        raise DeadlineReached("deadline reached mid-stream") from None
                    if item is _END:
                        return
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            finally:
                await cancel_and_wait([task])
                self.in_flight -= 1

    def _body(self, messages: list[dict[str, str]], **kw: Any) -> dict[str, Any]:
        return {"model": self._model, "messages": messages, "stream": True, **kw}

    # --- questions and follow-ups -------------------------------------------------------

    async def generate(self, job: LlmJob, deadline: float) -> AsyncGenerator[str, None]:
        """Stream the question (task ``question``) or follow-up (task ``followup``)
        sentence by sentence (see :meth:`actors.models.engines.LlmEngine.generate`). Ends
        quietly at ``deadline``; raises :class:`RemoteError` when the server failed before
        any sentence (the job should be retried) and :class:`EngineError` for other tasks.
        """
        if job.task not in ("question", "followup"):
            raise EngineError(f"generate() does not do task {job.task!r}")
        lang = lang_of(job.language)
        body = self._body(
            render_messages(job),
            max_tokens=max(16, min(job.max_tokens, MAX_TOKENS_CAP)),
            temperature=self._temperature if job.task == "question" else 0.3,
            top_p=0.9,
            seed=zlib.crc32(job.job_id.encode()),
        )
        stream = QuestionStream(lang)
        said = 0
        try:
            async with contextlib.aclosing(self._chat(body, deadline)) as pieces:
                async for piece in pieces:
                    for sentence in stream.feed(piece):
                        said += 1
                        yield sentence
                    if stream.done:
                        return
        except DeadlineReached:
            return
        except RemoteError as exc:
            if said:
                log.warning("llm: stream cut after %d sentence(s): %s", said, exc)
                return
            raise
        for sentence in stream.finish():
            yield sentence

    # --- the outline of a stronger answer ----------------------------------------------

    async def outline(self, job: LlmJob, deadline: float) -> str:
        """See :meth:`actors.models.engines.LlmEngine.outline`: "" when the reply has
        nothing usable; :class:`EngineCancelled` at ``deadline``; server trouble raises
        :class:`RemoteError` (retry the job)."""
        body = self._body(
            render_outline_messages(job),
            max_tokens=max(16, job.max_tokens),
            temperature=0.3,
            seed=zlib.crc32(job.job_id.encode()),
        )
        async with contextlib.aclosing(self._chat(body, deadline)) as pieces:
            text = "".join([p async for p in pieces])
        return clean_outline(text, job.language)

    # --- the résumé's claims (actors.models.llm.claims) ------------------------------------

    async def claims(self, job: LlmJob, deadline: float) -> str:
        """See :meth:`actors.models.engines.LlmEngine.claims`: the reply checked against the
        job's sentences; no picks when it has none usable. :class:`EngineCancelled` at
        ``deadline``; server trouble raises :class:`RemoteError` (retry the job)."""
        body = self._body(
            render_claims_messages(job),
            max_tokens=200,
            temperature=0.2,
            seed=zlib.crc32(job.job_id.encode()),
        )
        async with contextlib.aclosing(self._chat(body, deadline)) as pieces:
            text = "".join([p async for p in pieces])
        return dump_picks(parse_picks(text, list(job.context)))

    # --- assessment -----------------------------------------------------------------------

    def _constraint(self, mode: StructuredMode, lang: str) -> dict[str, Any]:
        if mode == "json_schema":
            return {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "assessment", "schema": ASSESSMENT_SCHEMA},
                }
            }
        if mode == "json_object":
            return {"response_format": {"type": "json_object", "schema": ASSESSMENT_SCHEMA}}
        if mode == "gbnf":
            return {"grammar": assessment_grammar(lang)}
        return {}

    async def _reply(
        self, messages: list[dict[str, str]], attempt: int, seed: int, lang: str, deadline: float
    ) -> str:
        """One complete assessment reply, detecting the structured-output mode if needed."""
        modes = (self._structured,) if self._structured else _AUTO_ORDER
        for mode in modes:
            assert mode is not None
            body = self._body(
                messages,
                max_tokens=ASSESS_MAX_TOKENS,
                temperature=assessing.temperature(attempt),
                seed=seed + attempt,
                **self._constraint(mode, lang),
            )
            try:
                async with contextlib.aclosing(self._chat(body, deadline)) as pieces:
                    text = "".join([p async for p in pieces])
            except Unsupported as exc:
                if self._structured is not None or mode == "none":
                    raise
                log.info("llm: the server refused structured mode %s (%s)", mode, exc.status)
                continue
            if self._structured is None:
                self._structured = mode
                log.info("llm: structured output through %s", mode)
            return text
        raise EngineError("no structured-output mode worked")

    async def assess(self, job: LlmJob, deadline: float) -> dict[str, Any]:
        """Score the answer (see :meth:`actors.models.engines.LlmEngine.assess`). A reply
        that is not a valid assessment after the retries gives the marked fallback; server
        trouble raises :class:`RemoteError` (retry the job); the deadline raises
        :class:`EngineCancelled`."""
        ruled = assessing.rule_assessment(job)
        if ruled is not None:
            return ruled
        lang = lang_of(job.language)
        messages = render_messages(msgspec.structs.replace(job, task="assess"))
        seed = zlib.crc32(job.job_id.encode())
        judge = assessing.AttemptJudge(job)
        try:
            for attempt in range(assessing.ATTEMPTS):
                text = await self._reply(messages, attempt, seed, lang, deadline)
                done = judge.offer(text, attempt)
                if done is not None:
                    return done
            return judge.best()
        except ValueError as exc:
            log.warning("assessment failed: %s", exc)
            return fallback_assessment(lang, f"invalid reply: {exc}")
        except Unsupported as exc:
            log.warning("assessment failed: %s", exc)
            return fallback_assessment(lang, str(exc))
