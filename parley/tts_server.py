"""A small OpenAI-compatible speech server on loopback, for tests, benchmarks and trying the
remote voice: ``POST /v1/audio/speech`` on top of Parley's embedded voices (piper's English
voice, run as its own ``python -m piper`` child as always, and espeak-ng), in a process of
its own.

It speaks the part of the API Parley uses: JSON ``{"model", "input", "voice",
"response_format"}`` with ``response_format`` ``wav`` (streamed: a header with placeholder
sizes, then PCM16 mono as each sentence is rendered) or ``pcm`` (raw PCM16 mono resampled
to 24 kHz, as OpenAI sends it); ``GET /v1/models``; ``GET /health``. Voices are named on
the command line (``--voice joe=piper --voice ko=espeak:ko``, the specs of
:func:`actors.models.registry.build_tts_voice`).

For fault tests: ``--realtime`` paces the stream at the speed of speech (so it can be
killed mid-stream), ``--fail-first N`` answers the first N requests with 503 and
``Retry-After: 0`` (so a client's retry is exercised).

Run: ``python -m parley.tts_server --port 8000``; or :func:`start_tts_server` /
:func:`tts_server` from Python (a child process, its output in a log file).
"""

from __future__ import annotations

__all__ = ["TtsServer", "main", "start_tts_server", "tts_server"]

import argparse
import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bus.embedded import free_port
from parley.llm_server import LlamaServer

PCM_RATE = 24000
_MAX_BODY = 64 * 1024


def wav_stream_header(sample_rate: int) -> bytes:
    """A RIFF/WAVE header for mono PCM16 of unknown length (sizes 0xFFFFFFFF)."""
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
    )


class _Voices:
    """Voice name -> loaded engine, each used by one request at a time."""

    def __init__(self, specs: dict[str, str]) -> None:
        from actors.models.registry import build_tts_voice

        self.engines = {name: build_tts_voice(spec) for name, spec in specs.items()}
        self.locks = {name: threading.Lock() for name in specs}
        for engine in self.engines.values():
            engine.load()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write("tts-server: " + (format % args) + "\n")

    def _json(self, status: int, data: Any, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/health":
            self._json(200, {"ok": True})
        elif self.path.rstrip("/") == "/v1/models":
            self._json(200, {"data": [{"id": "tts-1", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/audio/speech":
            self._json(404, {"error": {"message": "not found"}})
            return
        srv = self.server
        with srv.count_lock:
            srv.requests += 1
            refuse = srv.requests <= srv.fail_first
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= _MAX_BODY:
            self._json(400, {"error": {"message": "bad body length"}})
            return
        try:
            req = json.loads(self.rfile.read(length))
            text, voice = str(req["input"]), str(req.get("voice", ""))
            fmt = str(req.get("response_format", "mp3"))
        except (ValueError, KeyError, TypeError):
            self._json(400, {"error": {"message": "bad JSON"}})
            return
        if refuse:
            self._json(503, {"error": {"message": "warming up"}}, {"Retry-After": "0"})
            return
        if voice not in srv.voices.engines:
            self._json(400, {"error": {"message": f"unknown voice {voice!r}"}})
            return
        if fmt not in ("wav", "pcm"):
            self._json(400, {"error": {"message": f"response_format {fmt!r} not served"}})
            return
        self._speak(text, voice, fmt)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _speak(self, text: str, voice: str, fmt: str) -> None:
        from actors.models.audio import float_to_pcm16, pcm16_to_float, resample

        srv = self.server
        engine = srv.voices.engines[voice]
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav" if fmt == "wav" else "audio/pcm")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        started = time.monotonic()
        played = 0.0
        with srv.voices.locks[voice]:
            if fmt == "wav":
                self._chunk(wav_stream_header(engine.sample_rate))
            for pcm in engine.synthesize(text):
                if fmt == "pcm":
                    pcm = float_to_pcm16(
                        resample(pcm16_to_float(pcm), engine.sample_rate, PCM_RATE)
                    )
                self._chunk(pcm)
                if srv.realtime:
                    played += len(pcm) / 2 / (PCM_RATE if fmt == "pcm" else engine.sample_rate)
                    time.sleep(max(0.0, started + played - time.monotonic()))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, voices: _Voices, *, realtime: bool, fail_first: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.voices = voices
        self.realtime = realtime
        self.fail_first = fail_first
        self.requests = 0
        self.count_lock = threading.Lock()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m parley.tts_server", description=__doc__)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--voice",
        action="append",
        default=[],
        help="NAME=SPEC, e.g. joe=piper, ko=espeak:ko (default: both of those)",
    )
    p.add_argument("--realtime", action="store_true", help="stream at the speed of speech")
    p.add_argument("--fail-first", type=int, default=0, help="answer the first N with 503")
    a = p.parse_args(argv)
    specs = dict(v.split("=", 1) for v in a.voice) or {"joe": "piper", "ko": "espeak:ko"}
    server = _Server(a.port, _Voices(specs), realtime=a.realtime, fail_first=a.fail_first)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"tts-server on http://127.0.0.1:{a.port}/v1 voices {sorted(specs)}", flush=True)
    server.serve_forever()


class TtsServer(LlamaServer):
    """A running server (the same handle as the LLM test server's): ``url`` is the API
    base (``http://127.0.0.1:<port>/v1``), ``kill()`` is a crash's SIGKILL."""

    def stop(self) -> None:
        """Terminate (SIGKILL after 15 s), end its piper child, remove the log."""
        super().stop()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own group: piper goes too


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/health", timeout=1) as r:
            return bool(json.load(r).get("ok"))
    except (OSError, urllib.error.URLError, ValueError):
        return False


def start_tts_server(
    *,
    port: int = 0,
    voices: Sequence[str] = (),
    realtime: bool = False,
    fail_first: int = 0,
    timeout_s: float = 60.0,
) -> TtsServer:
    """Start the server as a child process (its own process group) on a free port unless
    ``port``, and wait until it serves."""
    port = port or free_port()
    log = Path(tempfile.mkstemp(prefix="parley-tts-server-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "parley.tts_server", "--port", str(port)]
    for v in voices:
        cmd += ["--voice", v]
    if realtime:
        cmd.append("--realtime")
    if fail_first:
        cmd += ["--fail-first", str(fail_first)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    server = TtsServer(proc, port, log)
    end = time.monotonic() + timeout_s
    while not _up(server.url):
        if proc.poll() is not None or time.monotonic() > end:
            tail = log.read_text(errors="replace")[-2000:]
            server.stop()
            raise RuntimeError(f"tts server did not start:\n{tail}")
        time.sleep(0.1)
    return server


@contextlib.contextmanager
def tts_server(**kw: Any) -> Iterator[TtsServer]:
    """``with tts_server(voices=["joe=piper"]) as s:`` start, yield, stop."""
    server = start_tts_server(**kw)
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    main()
