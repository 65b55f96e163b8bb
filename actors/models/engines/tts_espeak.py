"""Text to speech with the Debian ``espeak-ng`` program: the Korean voice for now, and a
fallback for any language espeak-ng knows.

espeak-ng is GPL-3.0: it is run as a separate program, never linked. One short-lived
process per utterance is cheap here (first audio in ~10 ms, real-time factor ~0.002), so
no long-lived child is kept. Text goes in on stdin (never on the command line, where a
leading ``-`` would be read as an option); the WAV stream on stdout is parsed and its PCM
passed on as it arrives.
"""

from __future__ import annotations

__all__ = ["EspeakTts"]

import io
import logging
import shutil
import subprocess
from collections.abc import Generator

from actors.interview.text import speakable
from actors.models.audio import parse_wav_header
from actors.models.engines import EngineError

log = logging.getLogger(__name__)

_READ = 8192


class EspeakTts:
    """espeak-ng voice ``voice`` (e.g. ``"ko"``, ``"en-us"``) at ``speed`` words per
    minute. ``sample_rate`` is read from espeak-ng's own output at ``load()`` (22050 Hz
    with the Debian data). Stateless between calls, so safe to use from several threads."""

    def __init__(
        self,
        voice: str = "ko",
        *,
        speed: int = 160,
        executable: str = "espeak-ng",
        chunk_bytes: int = 8820,
        timeout_s: float = 30.0,
    ) -> None:
        self.name = f"espeak-ng:{voice}"
        self.sample_rate = 22050
        self._voice = voice
        self._speed = speed
        self._exe = executable
        self._chunk = max(2, chunk_bytes - chunk_bytes % 2)
        self._timeout = timeout_s
        self._path: str | None = None

    def load(self) -> None:
        """Find the program and learn its sample rate; raises :class:`EngineError` if
        ``espeak-ng`` is missing (``apt-get install espeak-ng``) or lacks the voice."""
        if self._path is not None:
            return
        path = shutil.which(self._exe)
        if path is None:
            raise EngineError(f"{self._exe} not found (apt-get install espeak-ng)")
        self._path = path
        probe = subprocess.run(
            self._argv(), input=b"a", capture_output=True, timeout=self._timeout, check=False
        )
        fmt = parse_wav_header(probe.stdout) if probe.returncode == 0 else None
        if fmt is None:
            self._path = None
            err = probe.stderr.decode(errors="replace").strip()
            raise EngineError(f"espeak-ng voice {self._voice!r} failed: {err}")
        self.sample_rate = fmt.sample_rate

    def _argv(self) -> list[str]:
        assert self._path is not None
        # -b 1: input is UTF-8; --stdout: WAV on stdout; -s: words per minute.
        return [self._path, "-v", self._voice, "-s", str(self._speed), "-b", "1", "--stdout"]

    def synthesize(self, text: str) -> Generator[bytes, None, None]:
        """PCM16LE mono chunks (``chunk_bytes`` each, ~0.2 s) at ``sample_rate``."""
        if self._path is None:
            raise EngineError("EspeakTts.load() was not called")
        line = " ".join(text.split())
        if not speakable(line):
            return
        proc = subprocess.Popen(
            self._argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(line.encode("utf-8"))
            proc.stdin.close()
            buf = b""
            header_done = False
            stdout = proc.stdout
            assert isinstance(stdout, io.BufferedReader)  # bufsize=-1 (the default)
            while True:
                # read1: whatever espeak-ng has written so far, without waiting for more.
                data = stdout.read1(_READ)
                if not data:
                    break
                buf += data
                if not header_done:
                    fmt = parse_wav_header(buf)
                    if fmt is None:
                        continue
                    if fmt.channels != 1 or fmt.bits != 16:
                        raise EngineError(f"espeak-ng produced {fmt}, expected mono PCM16")
                    buf = buf[fmt.header_len :]
                    header_done = True
                while len(buf) >= self._chunk:
                    yield buf[: self._chunk]
                    buf = buf[self._chunk :]
            if len(buf) >= 2:
                yield buf[: len(buf) - len(buf) % 2]
            if proc.wait(timeout=self._timeout) != 0:
                raise EngineError(f"espeak-ng exited with {proc.returncode}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
