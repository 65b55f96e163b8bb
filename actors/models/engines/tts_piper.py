"""English text to speech with piper (``piper-tts``) and the packaged en_US-joe-medium voice.

piper-tts is GPL-3.0-or-later, so Parley never imports it: the voice runs in a separate,
long-lived ``python -m piper`` process that loads the model once. piper's CLI has no
framing on its raw-audio output (``--output-raw`` concatenates utterances with nothing
in between), but its ``--output-dir`` mode reads one utterance per stdin line, writes one
WAV file per line and logs ``Wrote <path>`` on stderr only after the file is complete:
that log line is the per-utterance boundary used here. The directory lives on tmpfs when
possible, so the file costs no disk I/O.

Measured on two cores: one fresh ``python -m piper`` per utterance needs 0.9–1.3 s to the
first audio (interpreter, onnxruntime and voice load), the long-lived child 0.05–0.25 s
per sentence. To start audio early, text is split into sentences and each goes on its own
line, so the first sentence plays while piper renders the next.

Quirk handled: a line without phonemes (only punctuation) crashes piper's CLI (the WAV
writer gets no frames); such lines are never sent, and if the child dies anyway it is
restarted and the offending sentence skipped.
"""

from __future__ import annotations

__all__ = ["PiperTts"]

import collections
import contextlib
import json
import logging
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
import weakref
from collections.abc import Generator, Iterator
from pathlib import Path

from actors.interview.text import speakable, split_sentences
from actors.models import assets
from actors.models.audio import chunk_bytes
from actors.models.engines import EngineError

log = logging.getLogger(__name__)

_WROTE = re.compile(r"Wrote (?P<path>.+\.wav)\s*$")
_MAX_LINE_CHARS = 600  # piper renders a line in one go; very long lines delay first audio


class _Child:
    """One running ``python -m piper`` process and the thread that reads its stderr."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        #: The last lines piper printed (for error messages: import errors, bad voice...).
        self.tail: collections.deque[str] = collections.deque(maxlen=8)
        self._reader = threading.Thread(target=self._read, name="piper-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stderr = self.proc.stderr
        assert stderr is not None
        try:
            for raw in stderr:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                self.tail.append(line)
                self.lines.put(line)
        finally:
            stderr.close()
            self.lines.put(None)  # EOF: the child exited

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=3)  # it closes stderr when it sees EOF


def _cleanup(child_box: list[_Child | None], workdir: str) -> None:
    child = child_box[0]
    if child is not None:
        child.stop()
    shutil.rmtree(workdir, ignore_errors=True)


class PiperTts:
    """The piper voice in a long-lived child process (see module docstring).

    ``model_path``/``config_path`` default to :func:`actors.models.assets.piper_voice`;
    ``python`` is the interpreter that has ``piper-tts`` installed (default: this one).
    Not thread-safe: one utterance at a time (a second ``synthesize`` while an iterator is
    open raises :class:`EngineError`). Call :meth:`close` to stop the child (it is also
    stopped when the engine is garbage-collected or the process exits).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        config_path: Path | None = None,
        *,
        python: str = sys.executable,
        length_scale: float | None = None,
        chunk_bytes: int = 8820,
        timeout_s: float = 30.0,
        workdir: Path | None = None,
    ) -> None:
        self._model_path = model_path
        self._config_path = config_path
        self._python = python
        self._length_scale = length_scale
        self._chunk = chunk_bytes
        self._timeout = timeout_s
        self._workdir_base = workdir
        self._workdir: str | None = None
        self._child_box: list[_Child | None] = [None]
        self._busy = threading.Lock()
        self._argv: list[str] = []
        self.name = "piper"
        self.sample_rate = 22050
        #: How many times the child was (re)started, for metrics.
        self.starts = 0

    # --- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Start the child, wait until the voice is loaded and warm it up (~1 s);
        idempotent. Raises :class:`EngineError` if piper cannot start."""
        if self._child_box[0] is not None:
            return
        model, config = (
            (self._model_path, self._config_path or Path(str(self._model_path) + ".json"))
            if self._model_path is not None
            else assets.piper_voice()
        )
        try:
            cfg = json.loads(config.read_text(encoding="utf-8"))
            self.sample_rate = int(cfg["audio"]["sample_rate"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EngineError(f"bad piper voice config {config}: {exc}") from exc
        self.name = f"piper:{model.stem}"
        base = self._workdir_base
        if base is None and os.access("/dev/shm", os.W_OK):
            base = Path("/dev/shm")
        self._workdir = tempfile.mkdtemp(prefix="parley-piper-", dir=base)
        self._argv = [
            self._python, "-m", "piper", "-m", str(model), "-c", str(config),
            "-d", self._workdir, "--output-dir-naming", "timestamp",
        ]  # fmt: skip
        if self._length_scale is not None:
            self._argv += ["--length-scale", str(self._length_scale)]
        weakref.finalize(self, _cleanup, self._child_box, self._workdir)
        started = time.monotonic()
        child = self._start_child()
        # The first utterance pays for lazy initialisation inside piper; pay it now. It also
        # proves the child works (piper installed, voice readable).
        warm = b"".join(self._render_all(["Ready."]))
        if not warm:
            self.close()
            raise EngineError("piper could not start: " + " | ".join(child.tail))
        log.info("TTS %s ready in %.2f s", self.name, time.monotonic() - started)

    def _start_child(self) -> _Child:
        old = self._child_box[0]
        if old is not None:
            old.stop()
        env = dict(os.environ, PYTHONUTF8="1", PYTHONIOENCODING="utf-8")
        try:
            child = _Child(self._argv, env)
        except OSError as exc:
            raise EngineError(f"cannot start piper: {exc}") from exc
        self._child_box[0] = child
        self.starts += 1
        return child

    def close(self) -> None:
        """Stop the child and remove its scratch directory."""
        if self._workdir is not None:
            _cleanup(self._child_box, self._workdir)
        self._child_box[0] = None

    # --- synthesis -------------------------------------------------------------------------

    def synthesize(self, text: str) -> Generator[bytes, None, None]:
        """PCM16LE mono chunks (``chunk_bytes`` each, ~0.2 s) at ``sample_rate``; the first
        chunk arrives when the first sentence is rendered."""
        if self._child_box[0] is None:
            raise EngineError("PiperTts.load() was not called")
        lines = [
            s[:_MAX_LINE_CHARS] for s in split_sentences(" ".join(text.split())) if speakable(s)
        ]
        if not lines:
            return
        if not self._busy.acquire(blocking=False):
            raise EngineError("PiperTts is busy: calls must be serialised")
        try:
            for pcm in self._render_all(lines):
                yield from chunk_bytes(pcm, self._chunk)
        finally:
            self._busy.release()

    def _render_all(self, lines: list[str]) -> Iterator[bytes]:
        """Send every line at once (piper renders them in order) and yield each line's
        PCM when its file is complete. On exit, lines not consumed yet are drained so the
        next utterance cannot pick up their files."""
        child = self._child_box[0]
        if child is None or not child.alive():
            log.warning("piper child is not running; restarting it")
            child = self._start_child()
        pending = list(lines)
        restarts = 0
        outstanding = 0
        try:
            for line in pending:
                child.send(line)
            outstanding = len(pending)
            while pending:
                path = self._next_file(child)
                if path is None:
                    # The child died on pending[0]: skip that sentence, resend the rest.
                    restarts += 1
                    log.warning("piper died on %r; restarting", pending[0][:60])
                    pending.pop(0)
                    outstanding = 0
                    if restarts > 2:
                        raise EngineError("piper keeps dying: " + " | ".join(child.tail))
                    child = self._start_child()
                    for line in pending:
                        child.send(line)
                    outstanding = len(pending)
                    continue
                pending.pop(0)
                outstanding -= 1
                yield self._read_wav(path)
        except (BrokenPipeError, OSError) as exc:
            outstanding = 0
            self._start_child()
            raise EngineError(f"piper I/O failed: {exc}") from exc
        finally:
            self._drain(child, outstanding)

    def _next_file(self, child: _Child) -> Path | None:
        """The next finished WAV file, or None if the child exited."""
        deadline = time.monotonic() + self._timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                child.stop()  # a stuck child is useless; the caller restarts it
                raise EngineError("piper timed out")
            try:
                line = child.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                return None
            match = _WROTE.search(line)
            if match is None:
                if line.strip():
                    log.debug("piper: %s", line)
                continue
            path = Path(match["path"])
            if self._workdir is None or path.parent != Path(self._workdir):
                log.warning("piper wrote an unexpected file %s", path)
                continue
            return path

    def _read_wav(self, path: Path) -> bytes:
        try:
            with wave.open(str(path), "rb") as wav:
                if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                    raise EngineError("piper wrote a WAV that is not mono PCM16")
                return wav.readframes(wav.getnframes())
        except (OSError, wave.Error) as exc:
            raise EngineError(f"cannot read piper output {path}: {exc}") from exc
        finally:
            path.unlink(missing_ok=True)

    def _drain(self, child: _Child, outstanding: int) -> None:
        """Consume (and delete) the files of lines the caller did not wait for."""
        try:
            for _ in range(outstanding):
                path = self._next_file(child)
                if path is None:
                    break
                path.unlink(missing_ok=True)
        except EngineError:
            log.warning("piper did not finish abandoned lines; restarting it")
            self._start_child()
