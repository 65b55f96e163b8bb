"""The end-of-turn model: its file from the wheel, its features, its stand-in, the real
model on synthetic speech."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from actors.models import assets
from actors.models.audio import float_to_pcm16
from actors.models.engines import EndOfTurnModel, EngineError
from actors.models.engines.deterministic import DeterministicEndOfTurn
from actors.models.engines.turn_features import N_FRAMES, N_MELS, WINDOW_SAMPLES, log_mel, window
from bench.speech import have_speech_tools, speak_pcm16


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setattr(assets, "_files", assets.ModelFiles(cache=root))  # restored after
    return root


def _fake_wheel(cache: Path, payload: bytes) -> Path:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True)
    wheel = wheels / "pipecat_ai-1.14.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pipecat/__init__.py", "raise ImportError('never imported')\n")
        zf.writestr(assets.SMART_TURN_MEMBER, payload)
    return wheel


def test_the_model_is_extracted_from_the_cached_wheel_and_checked(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"onnx" * 10
    _fake_wheel(cache, payload)
    monkeypatch.setattr(assets, "SMART_TURN_SIZE", len(payload))
    monkeypatch.setattr(assets, "SMART_TURN_SHA256", hashlib.sha256(payload).hexdigest())
    path = assets.smart_turn_path()
    assert path == cache / assets.SMART_TURN_NAME and path.read_bytes() == payload
    assert sorted(p.name for p in cache.iterdir()) == [
        assets.SMART_TURN_NAME,
        assets.SMART_TURN_NAME + ".lock",
        "wheels",
    ]


def test_a_wrong_checksum_leaves_nothing_behind(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"tampered"
    _fake_wheel(cache, payload)
    monkeypatch.setattr(assets, "SMART_TURN_SIZE", len(payload))
    with pytest.raises(assets.AssetError, match="sha256"):
        assets.smart_turn_path()
    assert not (cache / assets.SMART_TURN_NAME).exists()
    assert not list(cache.glob("*.tmp"))


def test_missing_model_without_fetch_is_a_clear_error(cache: Path) -> None:
    with pytest.raises(assets.AssetError, match="smart-turn"):
        assets.smart_turn_path(fetch=False)


def test_override_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "m.onnx"
    f.write_bytes(b"x")
    monkeypatch.setattr(assets, "_files", assets.ModelFiles(smart_turn=f))
    assert assets.smart_turn_path() == f
    assets.configure(assets.ModelFiles(smart_turn=tmp_path / "nope.onnx"))
    with pytest.raises(assets.AssetError):
        assets.smart_turn_path()


def test_features_keep_the_end_of_the_audio_at_the_end() -> None:
    short = np.ones(16000, dtype=np.float32)
    w = window(short)
    assert w.size == WINDOW_SAMPLES and not w[:-16000].any() and w[-16000:].all()
    long = np.arange(WINDOW_SAMPLES + 5, dtype=np.float32)
    assert window(long)[0] == 5.0
    rng = np.random.default_rng(1)
    feats = log_mel((rng.standard_normal(3 * 16000) * 0.1).astype(np.float32))
    assert feats.shape == (N_MELS, N_FRAMES) and feats.dtype == np.float32
    assert feats.max() <= 2.0 and feats.min() >= feats.max() - 2.0 - 1e-6  # 8 decades / 4


def _tone(level_db: list[float], frame_s: float = 0.032) -> bytes:
    n = int(16000 * frame_s)
    t = np.arange(n) / 16000
    parts = [10 ** (db / 20) * np.sqrt(2) * np.sin(2 * np.pi * 220 * t) for db in level_db]
    return float_to_pcm16(np.concatenate(parts).astype(np.float32))


def test_deterministic_stand_in() -> None:
    m: EndOfTurnModel = DeterministicEndOfTurn()
    steady = [-20.0] * 40 + [-90.0] * 8
    fading = [-20.0] * 40 + [-30.0] * 6 + [-90.0] * 8
    assert m.probability(_tone(steady)) == 0.0
    assert m.probability(_tone(fading)) == 1.0
    assert m.probability(_tone([-90.0] * 20)) == 0.0
    with pytest.raises(EngineError):
        m.probability(b"\x00")


@pytest.mark.models
@pytest.mark.skipif(not have_speech_tools(), reason="espeak-ng and sox are installed by make")
def test_smart_turn_tells_a_finished_sentence_from_an_unfinished_one() -> None:
    from actors.models.engines.turn_smart import SmartTurn

    m = SmartTurn()
    m.load()
    quiet = b"\0\0" * 8000  # half a second of silence after the words
    done = speak_pcm16("That was the hardest bug I have ever fixed.")
    cut = speak_pcm16("I would improve the monitoring because")
    assert m.probability(done + quiet) >= 0.5
    assert m.probability(cut + quiet) < 0.5
