"""The interviewer LLM embedded: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) on llama-cpp-python.

Latency is dominated by prompt length on two cores (prefill is tens of tokens per second),
so this engine:

* renders prompts whose stable parts come first (:mod:`actors.models.llm.render`) and keeps
  a small LRU of KV-cache snapshots (:mod:`actors.models.engines.kv_snapshots`), restoring
  the one sharing the longest prefix with a new prompt;
* streams tokens and yields each sentence as soon as it ends
  (:mod:`actors.models.llm.sentences`), stopping as soon as the one question is complete;
* stops within one token when the caller's ``cancel`` Event is set, and within one graph
  node while still evaluating the prompt (llama.cpp's abort callback), so a job past its
  deadline or an actor that is stopping frees the engine at once;
* forbids Chinese characters while sampling and constrains structured replies with grammars
  (:mod:`actors.models.engines.llama_constraints`).

What the model is told and how a reply or an assessment is read are
engine-independent (:mod:`actors.models.llm`): a remote engine reuses them.

NOT thread-safe: one llama.cpp context; the actor must serialise calls (a second call while
a ``generate`` iterator is still open raises :class:`EngineError`).
"""

from __future__ import annotations

__all__ = ["QwenLlm"]

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from actors.interview.language import lang_of
from actors.interview.picks import dump_picks, parse_picks
from actors.models import assets
from actors.models.engines import EngineCancelled, EngineError
from actors.models.engines.file_digest import sha256_of
from actors.models.engines.kv_snapshots import KvSnapshots
from actors.models.engines.llama_constraints import Grammars, han_ban_processor, han_tokens
from actors.models.engines.state_store import StateStore
from actors.models.llm import assess as assessing
from actors.models.llm.claims import MAX_SENTENCES, claims_grammar, render_claims_prompt
from actors.models.llm.outline import clean_outline, render_outline_prompt
from actors.models.llm.prompts import ASSESS_MAX_TOKENS, LANG_NAME, MAX_TOKENS_CAP
from actors.models.llm.render import (
    assess_prefix,
    dialog_prefix,
    render_prompt,
    short_prefix,
)
from actors.models.llm.sentences import question_sentences
from actors.models.rubric import fallback_assessment
from bus.jobs import LlmJob

log = logging.getLogger(__name__)


class QwenLlm:
    """Qwen2.5-Coder-1.5B-Instruct interviewer (see module docstring).

    ``model_path`` defaults to :func:`actors.models.assets.qwen_gguf_path`. ``n_threads``
    should be the number of physical cores given to this worker. ``snapshot_mb`` bounds
    the RAM used by KV snapshots (each is ~20 KB per prompt token). ``state_dir``
    (default ``<model cache>/llm-state``) holds the evaluated static prefixes across
    starts, at most ``state_mb`` MB of them (0: nothing is saved, every start is cold;
    see :mod:`actors.models.engines.state_store`).
    """

    name = "qwen2.5-coder-1.5b-instruct-q4km"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int = 2,
        n_batch: int = 256,
        temperature: float = 0.6,
        snapshot_mb: int = 256,
        max_snapshots: int = 16,
        warm_languages: tuple[str, ...] = ("en", "ko"),
        n_gpu_layers: int = -1,
        state_dir: Path | None = None,
        state_mb: int = 256,
    ) -> None:
        self._model_path = model_path
        self._state_dir = state_dir
        self._state_mb = state_mb
        #: ``warm`` (the static prefixes came from the state store) or ``cold``, after load
        self.start_kind = ""
        #: Figures of the last :meth:`load`.
        self.load_stats: dict[str, float] = {}
        self._n_gpu_layers = n_gpu_layers
        #: ``cpu``, or ``gpu`` when a GPU build of llama.cpp offloads layers (after load).
        self.device = "cpu"
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._n_batch = n_batch
        self._temperature = temperature
        self._warm_languages = tuple(lang for lang in warm_languages if lang in LANG_NAME)
        self._llm: Any = None
        self._ban: npt.NDArray[np.intc] = np.zeros(0, dtype=np.intc)
        self._snapshots = KvSnapshots(max_bytes=snapshot_mb << 20, max_count=max_snapshots)
        self._busy = threading.Lock()
        self._grammars: Grammars | None = None
        #: Figures of the last call (for metrics/benchmarks): prompt tokens, reused prefix
        #: tokens, time to first token, generated tokens, total seconds.
        self.last_stats: dict[str, float] = {}

    # --- lifecycle ----------------------------------------------------------------------

    def _static_prefixes(self) -> list[tuple[str, str]]:
        """(snapshot key, text) of every prompt prefix evaluated at load."""
        return [
            (key, text)
            for lang in self._warm_languages
            for key, text in (
                (f"static:{lang}", dialog_prefix(lang)),
                (f"static:assess:{lang}", assess_prefix(lang)),
                (f"static:short:{lang}", short_prefix(lang)),
            )
        ]

    def _gpu_layers(self) -> int:
        from llama_cpp import llama_supports_gpu_offload

        # A CPU build (the default, what CI tests) ignores offload; a CUDA build
        # (``make install LLAMA_GPU=cuda``) puts the layers on the GPU.
        return self._n_gpu_layers if llama_supports_gpu_offload() else 0

    def _store(self, path: Path) -> StateStore | None:
        """The on-disk store of evaluated prefixes for this model file, build and context
        (None when turned off, or when the model file cannot be hashed)."""
        if self._state_mb <= 0:
            return None
        import llama_cpp

        root = self._state_dir or assets.cache_dir() / "llm-state"
        try:
            sha = assets.verified_sha256(path) or sha256_of(path, root / "file-hashes.json")
        except OSError as exc:
            log.warning("LLM state cache off: cannot hash %s (%s)", path, exc)
            return None
        raw = llama_cpp.llama_print_system_info()
        identity = {
            "model_sha256": sha,
            "llama_cpp_python": str(llama_cpp.__version__),
            "build": raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw),
            "context": (
                f"n_ctx={self._n_ctx} n_batch={self._n_batch} gpu_layers={self._gpu_layers()}"
            ),
        }
        return StateStore(root, identity, max_bytes=self._state_mb << 20)

    def expected_start(self) -> str:
        """``"warm"`` when every static prefix is saved on disk for this model, build and
        context (the next :meth:`load` restores them: seconds), else ``"cold"`` (they are
        evaluated: about a minute and a half on one thread). Cheap: a hash lookup and a few
        ``stat`` calls; says nothing of whether the files will verify."""
        try:
            path = self._model_path or assets.qwen_gguf_path()
            store = self._store(path)
        except Exception:
            return "cold"
        if store is None:
            return "cold"
        return "warm" if all(store.has(k, t) for k, t in self._static_prefixes()) else "cold"

    def load(self) -> None:
        """Load the GGUF (memory-mapped; assembled from the packages on first use), build
        the Han token ban list, compile the grammars and make the static prompt prefix of
        each language in ``warm_languages`` ready: restored from the on-disk state store
        when it holds them for this model file, build and context (a warm start: seconds),
        else evaluated (a cold start: 80-110 s on one thread here) and saved there for the
        next start. Idempotent."""
        if self._llm is not None:
            return
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EngineError("llama-cpp-python is not installed") from exc

        path = self._model_path or assets.qwen_gguf_path()
        started = time.monotonic()
        gpu_layers = self._gpu_layers()
        self.device = "gpu" if gpu_layers else "cpu"
        self._llm = Llama(
            model_path=str(path),
            use_mmap=True,  # the weights are mapped from the page cache, not read and copied
            n_gpu_layers=gpu_layers,
            n_ctx=self._n_ctx,
            n_threads=self._n_threads,
            n_threads_batch=self._n_threads,
            n_batch=self._n_batch,
            verbose=False,
        )
        store = self._store(path)
        self._ban = self._han_ban(store)
        self._grammars = Grammars.compile(tuple(LANG_NAME))
        restored = evaluated = 0
        for key, text in self._static_prefixes():
            if self._restore_prefix(store, key, text):
                restored += 1
            else:
                evaluated += self._evaluate_prefix(store, key, text)
        self.start_kind = "warm" if evaluated == 0 else "cold"
        self.load_stats = {
            "load_s": time.monotonic() - started,
            "prefixes_restored": float(restored),
            "prefix_tokens_evaluated": float(evaluated),
        }
        log.info(
            "LLM %s loaded in %.1f s on %s (%s start: %d prefixes restored, %d tokens "
            "evaluated; %d Han tokens banned)",
            path.name,
            self.load_stats["load_s"],
            self.device,
            self.start_kind,
            restored,
            evaluated,
            len(self._ban),
        )

    def warm_up(self) -> None:
        """One token through the model on top of the first static prefix: pages the
        weights in and proves the engine computes (a fraction of a second, where a whole
        question's prompt would take seconds). Raises :class:`EngineError` when the logits
        are not finite."""
        with self._exclusive():
            llm = self._require()
            lang = self._warm_languages[0] if self._warm_languages else "en"
            tokens = self._tokenize(dialog_prefix(lang))
            start = min(self._snapshots.restore_best(llm, tokens), len(tokens) - 1)
            llm.n_tokens = start
            llm.eval(tokens[start:])
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
            if not np.isfinite(logits).all():
                raise EngineError("the model computes no finite logits")

    def _han_ban(self, store: StateStore | None) -> npt.NDArray[np.intc]:
        """The Han token ban list (half a second over the vocabulary), kept in the store."""
        name, text = "han-ban", "utf-8 lead bytes E4..E9"
        data = store.get(name, text, []) if store is not None else None
        if data is not None:
            return np.frombuffer(data, dtype="<i4").astype(np.intc)
        ban = han_tokens(self._require())
        if store is not None:
            store.put(name, text, [], ban.astype("<i4").tobytes())
        return ban

    def _restore_prefix(self, store: StateStore | None, key: str, text: str) -> bool:
        """Restore one static prefix from the store (checked by the store, then by
        llama.cpp, which must read it whole); False when it must be evaluated."""
        if store is None:
            return False
        tokens = self._tokenize(text)
        data = store.get(key, text, tokens)
        if data is None:
            return False
        if self._snapshots.adopt(self._require(), key, tokens, data, pin=True):
            return True
        log.warning("llama.cpp refused the saved state of %s: evaluating it", key)
        return False

    def _evaluate_prefix(self, store: StateStore | None, key: str, text: str) -> int:
        """Evaluate one static prefix on top of the longest prefix already evaluated (the
        dialog and short prompts share their first few hundred tokens), pin its snapshot
        and save it to the store; return the tokens evaluated."""
        llm = self._require()
        tokens = self._tokenize(text)
        start = min(self._snapshots.restore_best(llm, tokens), len(tokens) - 1)
        llm.n_tokens = start
        llm.eval(tokens[start:])
        self._snapshots.save(llm, key, pin=True)
        if store is not None:
            store.put(key, text, *self._snapshots.data(key))
        return len(tokens) - start

    def _require(self) -> Any:
        if self._llm is None:
            raise EngineError("QwenLlm.load() was not called")
        return self._llm

    def _require_grammars(self) -> Grammars:
        if self._grammars is None:
            raise EngineError("QwenLlm.load() was not called")
        return self._grammars

    def _tokenize(self, prompt: str) -> list[int]:
        # Candidate text has been neutralised (no '<'), so parsing special tokens here can
        # only match the ChatML markers we wrote ourselves.
        tokens: list[int] = self._require().tokenize(
            prompt.encode("utf-8"), add_bos=False, special=True
        )
        return tokens

    # --- generation -----------------------------------------------------------------------

    def _prefill(self, tokens: list[int], reused: int, cancel: threading.Event) -> bool:
        """Evaluate the prompt after its first ``reused`` tokens, and at least its last
        token (the first sample needs its logits), so that ``create_completion`` finds it
        all cached and starts sampling at once. False if ``cancel`` stopped it.

        Prefill is the long part (~50 ms a token here) and llama.cpp runs a whole batch in
        one call, so ``cancel`` is polled by llama.cpp's abort callback between graph nodes.
        On abort llama.cpp drops the unfinished batch from the KV cache, and ``n_tokens``
        counts only the batches that completed, so the context stays consistent. The
        callback is set for the prefill only: it runs for every graph node and takes the
        GIL each time, which decoding (a few hundred nodes per token) would feel.
        """
        from llama_cpp import llama_cpp as lib

        llm = self._require()
        if cancel.is_set():
            return False
        start = min(reused, len(tokens) - 1)
        ctx = llm._ctx.ctx
        abort = lib.ggml_abort_callback(lambda _data: cancel.is_set())
        lib.llama_set_abort_callback(ctx, abort, None)
        try:
            llm.n_tokens = start
            llm.eval(tokens[start:])
        except RuntimeError:  # "llama_decode returned 2": aborted
            if not cancel.is_set():
                raise
            return False
        finally:
            lib.llama_set_abort_callback(ctx, lib.ggml_abort_callback(), None)
        return True

    def _stream(
        self,
        prompt: str,
        *,
        cancel: threading.Event,
        snapshot_key: str,
        max_tokens: int,
        temperature: float,
        seed: int,
        grammar: Any = None,
    ) -> Generator[str, None, None]:
        """Yield generated text pieces; end early (quietly) once ``cancel`` is set; record
        ``last_stats``; snapshot the KV cache."""
        llm = self._require()
        tokens = self._tokenize(prompt)
        if len(tokens) + max_tokens >= self._n_ctx:
            raise EngineError(f"prompt too long ({len(tokens)} tokens)")
        started = time.monotonic()
        reused = self._snapshots.restore_best(llm, tokens)
        first: float | None = None
        generated = 0
        stream: Any = None
        try:
            if not self._prefill(tokens, reused, cancel):
                return
            stream = llm.create_completion(
                tokens,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=0.9,
                top_k=40,
                repeat_penalty=1.1,
                seed=seed,
                stream=True,
                stop=["<|im_end|>", "<|endoftext|>"],
                logits_processor=han_ban_processor(self._ban),
                grammar=grammar,
            )
            for chunk in stream:
                if cancel.is_set():
                    break
                text = chunk["choices"][0]["text"]
                if first is None:
                    first = time.monotonic() - started
                generated += 1
                if text:
                    yield text
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()
            elapsed = time.monotonic() - started
            self.last_stats = {
                "prompt_tokens": float(len(tokens)),
                "reused_tokens": float(reused),
                "ttft_s": first if first is not None else elapsed,
                "generated_tokens": float(generated),
                "total_s": elapsed,
            }
            try:
                self._snapshots.save(llm, snapshot_key)
            except Exception:  # a failed snapshot only costs speed later
                log.exception("KV snapshot failed")

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        if not self._busy.acquire(blocking=False):
            raise EngineError("QwenLlm is busy: calls must be serialised")
        try:
            yield
        finally:
            self._busy.release()

    def generate(self, job: LlmJob, cancel: threading.Event) -> Generator[str, None, None]:
        """Stream the question (task ``question``) or the follow-up (task ``followup``)
        sentence by sentence; see :class:`actors.models.engines.LlmEngine`.

        ``question`` may yield nothing when the model produced nothing usable (e.g. the
        wrong language): the caller then uses its question bank. A ``followup`` was decided
        by the session (it quotes ``job.anchor``); the model only phrases its question.
        """
        if job.task not in ("question", "followup"):
            raise EngineError(f"generate() does not do task {job.task!r}")
        with self._exclusive():
            lang = lang_of(job.language)
            max_tokens = max(16, min(job.max_tokens, MAX_TOKENS_CAP))
            stream = self._stream(
                render_prompt(job),
                cancel=cancel,
                snapshot_key=f"{job.session_id}:dialog",
                max_tokens=max_tokens,
                temperature=self._temperature if job.task == "question" else 0.3,
                seed=zlib.crc32(job.job_id.encode()),
            )
            try:
                yield from question_sentences(stream, lang, cancel)
            finally:
                # Close it so the stream's bookkeeping (stats, KV snapshot) runs while this
                # call still holds the engine.
                stream.close()

    # --- outline of a stronger answer (actors.models.llm.outline) ---------------------------

    def outline(self, job: LlmJob, cancel: threading.Event | None = None) -> str:
        """See :meth:`actors.models.engines.LlmEngine.outline`."""
        cancel = cancel or threading.Event()
        if cancel.is_set():
            raise EngineCancelled("outline cancelled")
        try:
            with self._exclusive():
                text = "".join(
                    self._stream(
                        render_outline_prompt(job),
                        cancel=cancel,
                        snapshot_key=f"{job.session_id}:outline",
                        max_tokens=job.max_tokens,
                        temperature=0.3,
                        seed=zlib.crc32(job.job_id.encode()),
                    )
                )
        except EngineError as exc:
            if "busy" in str(exc):
                raise
            log.warning("outline failed: %s", exc)
            return ""
        if cancel.is_set():
            raise EngineCancelled("outline cancelled")
        return clean_outline(text, job.language)

    # --- the résumé's claims (actors.models.llm.claims) ------------------------------------

    def claims(self, job: LlmJob, cancel: threading.Event | None = None) -> str:
        """See :meth:`actors.models.engines.LlmEngine.claims`: grammar-constrained picks,
        checked; no picks when the model failed."""
        cancel = cancel or threading.Event()
        if cancel.is_set():
            raise EngineCancelled("claims cancelled")
        from llama_cpp.llama_grammar import LlamaGrammar

        sentences = list(job.context[:MAX_SENTENCES])
        try:
            grammar = LlamaGrammar.from_string(claims_grammar(len(sentences)), verbose=False)
            with self._exclusive():
                text = "".join(
                    self._stream(
                        render_claims_prompt(job),
                        cancel=cancel,
                        snapshot_key=f"{job.session_id}:claims",
                        max_tokens=200,
                        temperature=0.2,
                        seed=zlib.crc32(job.job_id.encode()),
                        grammar=grammar,
                    )
                )
        except EngineError as exc:
            if "busy" in str(exc):
                raise
            log.warning("claims failed: %s", exc)
            return dump_picks([])
        if cancel.is_set():
            raise EngineCancelled("claims cancelled")
        return dump_picks(parse_picks(text, sentences))

    # --- assessment -----------------------------------------------------------------------

    def prefill(self, job: LlmJob, cancel: threading.Event) -> int:
        """See :class:`actors.models.engines.PrefillsAnswers`: the assessment prompt of the
        answer so far, cut before its closing ``</answer>``, evaluated on top of the best KV
        snapshot and saved as the session's ``prefill`` snapshot."""
        if cancel.is_set() or not job.answer.strip():
            return 0
        prompt = render_prompt(msgspec.structs.replace(job, task="assess"))
        cut = prompt.rfind("</answer>")
        if cut <= 0:
            return 0
        try:
            with self._exclusive():
                llm = self._require()
                tokens = self._tokenize(prompt[:cut])
                if len(tokens) + ASSESS_MAX_TOKENS >= self._n_ctx:
                    return 0
                started = time.monotonic()
                reused = self._snapshots.restore_best(llm, tokens)
                if reused >= len(tokens) - 1 or not self._prefill(tokens, reused, cancel):
                    return 0
                self.last_stats = {
                    "prompt_tokens": float(len(tokens)),
                    "reused_tokens": float(reused),
                    "total_s": time.monotonic() - started,
                }
                self._snapshots.save(llm, f"{job.session_id}:prefill")
                return len(tokens) - reused
        except EngineError as exc:
            if "busy" in str(exc):
                raise
            log.warning("prefill failed: %s", exc)
            return 0
        except Exception as exc:  # only speed is lost
            log.warning("prefill failed: %s: %s", type(exc).__name__, exc)
            return 0

    def assess(self, job: LlmJob, cancel: threading.Event | None = None) -> dict[str, Any]:
        """Score the answer with grammar-constrained decoding; never raises for model
        trouble (returns :func:`actors.models.rubric.fallback_assessment` instead). Raises
        :class:`EngineCancelled` when ``cancel`` is set before the result is complete: the
        model stops within one token, or one graph node while it reads the prompt."""
        if cancel is None:
            cancel = threading.Event()
        if cancel.is_set():
            raise EngineCancelled("assessment cancelled")
        lang = lang_of(job.language)
        ruled = assessing.rule_assessment(job)
        if ruled is not None:
            return ruled
        try:
            judge = assessing.AttemptJudge(job)
            for attempt in range(assessing.ATTEMPTS):
                with self._exclusive():
                    text = "".join(
                        self._stream(
                            render_prompt(msgspec.structs.replace(job, task="assess")),
                            cancel=cancel,
                            snapshot_key=f"{job.session_id}:assess",
                            max_tokens=ASSESS_MAX_TOKENS,
                            temperature=assessing.temperature(attempt),
                            seed=zlib.crc32(job.job_id.encode()) + attempt,
                            grammar=self._require_grammars().for_assessment(lang),
                        )
                    )
                if cancel.is_set():
                    raise EngineCancelled("assessment cancelled")
                done = judge.offer(text, attempt)
                if done is not None:
                    self.last_stats["text_retries"] = float(judge.text_retries)
                    return done
            best = judge.best()
            self.last_stats["text_retries"] = float(judge.text_retries)
            return best
        except EngineCancelled:
            raise
        except EngineError as exc:
            if "busy" in str(exc):
                raise
            log.warning("assessment failed: %s", exc)
            return fallback_assessment(lang, str(exc))
        except Exception as exc:
            log.warning("assessment failed: %s", exc)
            return fallback_assessment(lang, f"{type(exc).__name__}: {exc}")
