"""The OpenAI-compatible STT engine against a tiny real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from actors.models.remote.config import RemoteConfig
from actors.models.remote.http import RemoteError
from actors.models.remote.stt_openai import OpenAiStt


class Handler(BaseHTTPRequestHandler):
    script: ClassVar[list[tuple[int, str]]] = []
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append(body)
        status, text = self.script.pop(0) if self.script else (503, "")
        payload = json.dumps({"text": text}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Handler.script, Handler.bodies = [], []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


def test_transcribes_with_language_and_prompt_and_retries_overload(server: str) -> None:
    Handler.script = [(503, ""), (200, " I built a payment service. ")]
    stt = OpenAiStt(RemoteConfig(url=server, model="whisper-large-v3"))
    stt.load()
    try:
        out = stt.transcribe(b"\0\0" * 16000, 16000, "en-US", prompt="Earlier words")
    finally:
        stt.close()
    assert out.text == "I built a payment service." and not out.no_speech
    assert out.audio_ms == 1000
    body = Handler.bodies[-1]
    assert b'name="language"\r\n\r\nen\r\n' in body and b"whisper-large-v3" in body
    assert b"Earlier words" in body and b"RIFF" in body  # a WAV file
    assert len(Handler.bodies) == 2


def test_silence_is_no_speech_and_lasting_errors_raise(server: str) -> None:
    Handler.script = [(200, "  ")]
    stt = OpenAiStt(RemoteConfig(url=server), request_timeout_s=1.5)
    stt.load()
    try:
        assert stt.transcribe(b"\0\0" * 800, 16000, "ko").no_speech
        with pytest.raises(RemoteError):
            stt.transcribe(b"\0\0" * 800, 16000, "ko")  # 503 until the timeout
    finally:
        stt.close()
