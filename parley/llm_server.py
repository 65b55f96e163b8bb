"""An OpenAI-compatible LLM server on loopback for tests, benchmarks and trying the remote
engine: llama-cpp-python's own server (``python -m llama_cpp.server``, the ``llm-server``
extra) serving the same packaged GGUF as the embedded engine, as a separate process.

It serves one request at a time (one llama.cpp context; ``--interrupt_requests False`` so a
new request waits instead of cutting the running stream), so it measures the network hop
and the protocol, not batching: a vLLM on a GPU is what batches.
"""

from __future__ import annotations

__all__ = ["LlamaServer", "llama_server"]

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from actors.models import assets
from bus.embedded import free_port

MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct"


@dataclass
class LlamaServer:
    """A running server: ``url`` is the API base (``http://127.0.0.1:<port>/v1``)."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def kill(self) -> None:
        """SIGKILL, as a crash would (no graceful close of open streams)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Terminate (SIGKILL after 15 s) and remove the log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.unlink(missing_ok=True)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as r:
            return bool(json.load(r).get("data"))
    except (OSError, urllib.error.URLError, ValueError):
        return False


def start_llama_server(
    *, port: int = 0, threads: int = 1, n_ctx: int = 2048, timeout_s: float = 180.0
) -> LlamaServer:
    """Start the server (on a free port unless ``port``) and wait until it serves.
    ``threads``: as the embedded engine's (``PARLEY_LLM_THREADS``, default 1)."""
    port = port or free_port()
    log = Path(tempfile.mkstemp(prefix="parley-llm-server-", suffix=".log")[1])
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(assets.qwen_gguf_path()), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--chat_format", "chatml", "--interrupt_requests", "False",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    server = LlamaServer(proc, port, log)
    end = time.monotonic() + timeout_s
    while not _ready(server.url):
        if proc.poll() is not None or time.monotonic() > end:
            tail = log.read_text(errors="replace")[-2000:]
            server.stop()
            raise RuntimeError(f"llama-cpp-python server did not start:\n{tail}")
        time.sleep(0.3)
    return server


@contextlib.contextmanager
def llama_server(**kw: int) -> Iterator[LlamaServer]:
    """``with llama_server() as s:`` start, yield, stop."""
    server = start_llama_server(**kw)
    try:
        yield server
    finally:
        server.stop()
