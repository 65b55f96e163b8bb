"""The installed llama.cpp is built for the documented x86-64 baseline (AVX2 + FMA + F16C),
not for the machine that compiled it: no AMX (whose kernels crash with SIGILL on Intel
Sapphire Rapids, ggml-org/llama.cpp #20824) and no AVX-512, so one wheel runs on any CPU.

These checks hold on any CPU: they read the machine code and what a loaded model reports,
rather than relying on the test machine lacking the feature."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actors.models.cpuinfo import llama_system_info

AMX = re.compile(
    r"\b(tilezero|ldtilecfg|sttilecfg|tileloadd|tileloaddt1|tilestored|tilerelease|"
    r"tdpbssd|tdpbsud|tdpbusd|tdpbuud|tdpbf16ps|tdpfp16ps)\b"
)
AVX512 = re.compile(r"%zmm\d|%k[1-7]\b")


def _ggml_libraries() -> list[Path]:
    import llama_cpp

    libs = sorted(
        p for p in (Path(llama_cpp.__file__).parent / "lib").glob("lib*.so") if p.is_file()
    )
    assert any(p.name.startswith("libggml-cpu") for p in libs), libs
    return libs


@pytest.mark.skipif(not shutil.which("objdump"), reason="needs objdump (binutils)")
@pytest.mark.parametrize("pattern,what", [(AMX, "AMX"), (AVX512, "AVX-512")])
def test_llama_cpp_machine_code_stays_within_the_baseline(
    pattern: re.Pattern[str], what: str
) -> None:
    found: dict[str, list[str]] = {}
    for lib in _ggml_libraries():
        asm = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(lib)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        hits = [line.strip() for line in asm.splitlines() if pattern.search(line)]
        if hits:
            found[lib.name] = hits[:5]
    assert not found, f"{what} instructions in the installed llama.cpp: {found}"


def test_llama_cpp_reports_the_baseline_kernels() -> None:
    info = llama_system_info().split()
    for feature in ("AVX2", "FMA", "F16C"):
        assert feature in info, info
    assert not [f for f in info if f.startswith(("AMX", "AVX512"))], info


LOAD_AND_DECODE = """
import sys
from llama_cpp import Llama
from actors.models.assets import qwen_gguf_path
llm = Llama(model_path=str(qwen_gguf_path()), n_ctx=256, n_threads=2, verbose=True)
out = llm.create_completion("Say hello.", max_tokens=4, temperature=0.0)
print("DECODED", repr(out["choices"][0]["text"]), flush=True)
"""


@pytest.mark.models
@pytest.mark.timeout(300)
def test_a_loaded_model_uses_no_amx_buffer_and_decodes() -> None:
    """In a child process, so a SIGILL would fail this test rather than kill the run."""
    res = subprocess.run(
        [sys.executable, "-c", LOAD_AND_DECODE],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=Path(__file__).resolve().parents[2],
    )
    log = res.stdout + res.stderr
    assert res.returncode == 0, f"exit {res.returncode}\n{log[-3000:]}"
    assert "DECODED" in res.stdout, log[-3000:]
    buffers = [line for line in log.splitlines() if "buffer size" in line]
    assert buffers, log[-3000:]  # the log shows where the weights went
    assert not [line for line in buffers if "AMX" in line], buffers
    assert "amx repack" not in log.lower(), log[-3000:]
