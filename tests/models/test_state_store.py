"""The on-disk engine state store, the remembered model hash and the load estimates: a
saved state comes back only for the same identity, prompt and tokens, whole; anything
else is a miss; the directory stays bounded. No model needed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from actors.models.engines.file_digest import sha256_of
from actors.models.engines.state_store import StateStore
from actors.models.service.startup import LoadHistory, estimate_line, parse_estimate

IDENTITY = {"model_sha256": "ab" * 32, "llama_cpp_python": "0.3.36", "build": "AVX2 = 1"}
TEXT = "<|im_start|>system\nYou are an interviewer."
TOKENS = [151644, 8948, 198, 2610, 525]
DATA = os.urandom(4096)


def store(root: Path, max_bytes: int = 1 << 20, **identity: str) -> StateStore:
    return StateStore(root, {**IDENTITY, **identity}, max_bytes=max_bytes)


def test_a_saved_state_comes_back_only_when_everything_matches(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert s.get("static:en", TEXT, TOKENS) is None and s.misses == 1
    s.put("static:en", TEXT, TOKENS, DATA)
    assert s.has("static:en", TEXT)
    assert s.get("static:en", TEXT, TOKENS) == DATA and s.hits == 1
    # a fresh process (a new store object) finds it too
    assert store(tmp_path).get("static:en", TEXT, TOKENS) == DATA
    # another model file, library version or build: not this entry
    assert store(tmp_path, model_sha256="cd" * 32).get("static:en", TEXT, TOKENS) is None
    assert store(tmp_path, llama_cpp_python="0.3.37").get("static:en", TEXT, TOKENS) is None
    assert store(tmp_path, build="AVX512 = 1").get("static:en", TEXT, TOKENS) is None
    # another prompt text, or the same text tokenized differently now
    assert s.get("static:en", TEXT + " Be kind.", TOKENS) is None
    assert s.get("static:en", TEXT, [*TOKENS[:-1], 7]) is None
    # and it was not deleted for those: the right caller still gets it
    assert s.get("static:en", TEXT, TOKENS) == DATA


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_damaged_file_is_a_miss_and_is_removed(tmp_path: Path, damage: str) -> None:
    s = store(tmp_path)
    s.put("static:ko", TEXT, TOKENS, DATA)
    path = s.path("static:ko", TEXT)
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[:-100]
    elif damage == "flip":
        blob[-10] ^= 0xFF
    else:
        blob = bytearray(b"not a state file at all")
    path.write_bytes(bytes(blob))
    assert s.get("static:ko", TEXT, TOKENS) is None
    assert not path.exists()


def test_writes_are_atomic_and_the_directory_stays_bounded(tmp_path: Path) -> None:
    s = store(tmp_path, max_bytes=3 * 4096 + 2000)
    old = store(tmp_path, max_bytes=3 * 4096 + 2000, model_sha256="00" * 32)
    old.put("static:en", TEXT, TOKENS, DATA)  # an older model's entry
    for i in range(3):
        s.put(f"p{i}", TEXT, TOKENS, DATA)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not any(n.endswith(".tmp") for n in names), names
    # the other identity's entry went first
    assert not old.has("static:en", TEXT)
    assert all(s.has(f"p{i}", TEXT) for i in range(3))
    # then the least recently used: p0 is read (touched) so p1 is the oldest
    os.utime(s.path("p1", TEXT), (1, 1))
    os.utime(s.path("p2", TEXT), (2, 2))
    s.get("p0", TEXT, TOKENS)
    s.put("p3", TEXT, TOKENS, DATA)
    assert not s.has("p1", TEXT)
    assert s.has("p0", TEXT) and s.has("p2", TEXT) and s.has("p3", TEXT)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= s.max_bytes


def test_a_model_file_is_hashed_once_while_it_is_unchanged(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"weights" * 1000)
    cache = tmp_path / "hashes.json"
    want = hashlib.sha256(model.read_bytes()).hexdigest()
    assert sha256_of(model, cache) == want
    assert cache.is_file()
    # a remembered digest is used while size, mtime, ctime and inode are unchanged (proved
    # by planting a wrong one: it comes back)
    text = cache.read_text().replace(want, "f" * 64)
    cache.write_text(text)
    assert sha256_of(model, cache) == "f" * 64
    # a rewrite (same size) changes mtime/ctime: hashed again
    model.write_bytes(b"WEIGHTS" * 1000)
    assert sha256_of(model, cache) == hashlib.sha256(model.read_bytes()).hexdigest()
    # a broken cache file costs a re-hash, not an error
    cache.write_text("{not json")
    assert sha256_of(model, cache) == hashlib.sha256(model.read_bytes()).hexdigest()


def test_load_estimates_come_from_the_last_start_of_the_same_kind(tmp_path: Path) -> None:
    history = LoadHistory(tmp_path / "load-times.json")
    assert history.expect("llm", "cold") == 90.0  # a guess before any start
    history.record("llm", "cold", 71.3)
    history.record("llm", "warm", 4.2)
    assert history.expect("llm", "cold") == 71.3
    assert history.expect("llm", "warm") == 4.2
    line = estimate_line("llm", "warm", history.expect("llm", "warm"))
    assert line == "model llm    warming up (warm start): ready in about 4 s"
    assert parse_estimate(f"[llm] {line}") == ("llm", 4.0)
    assert parse_estimate("[stt] " + estimate_line("stt", "start", 2.7)) == ("stt", 3.0)
    assert parse_estimate("[llm] model llm    ready (qwen, 4.1s)") is None
    (tmp_path / "load-times.json").write_text("[1, 2")
    assert history.expect("stt", "start") == 5.0


def test_the_question_banks_vectors_are_embedded_once_per_embedder(tmp_path: Path) -> None:
    from actors.models.engines.deterministic import DeterministicEmbedder
    from actors.models.service.embed import bank_vectors

    class Counting(DeterministicEmbedder):
        calls = 0

        def embed_passages(self, texts: list[str]) -> Any:
            Counting.calls += 1
            return super().embed_passages(texts)

    engine = Counting()
    engine.load()
    texts = ["Tell me about yourself.", "What is a database index?"]
    first = bank_vectors(engine, "en", texts, tmp_path)
    again = bank_vectors(engine, "en", texts, tmp_path)
    assert Counting.calls == 1  # the second start (a fresh database) read them
    assert (first == again).all() and again.shape == (2, engine.dim)
    bank_vectors(engine, "en", [*texts, "Why this company?"], tmp_path)  # the bank changed
    assert Counting.calls == 2
