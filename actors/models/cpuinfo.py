"""What CPU features the engines use, for ``parley up``'s start-up lines and
``parley bench models``.

Parley's own llama.cpp build targets a fixed x86-64 baseline (AVX2 + FMA + F16C + BMI2, no
AVX-512, no AMX; see ``parley/build/llama-wheel.sh``) so it runs on any CPU from Haswell or
Zen 1 upward, whatever machine compiled it. CTranslate2 (faster-whisper) and onnxruntime ship
prebuilt wheels that pick their kernels at run time. These helpers only read and report.
"""

from __future__ import annotations

__all__ = ["BASELINE_FLAGS", "engine_cpu_line", "host_cpu_line", "llama_system_info"]

import contextlib
from pathlib import Path

#: The instruction sets Parley's native builds require (documented baseline).
BASELINE_FLAGS = ("avx", "avx2", "fma", "f16c", "bmi2")
_INTERESTING = (
    *BASELINE_FLAGS,
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = "unknown CPU", set[str]()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    return model, flags


def host_cpu_line() -> str:
    """``AMD EPYC ...: avx avx2 fma f16c bmi2 avx512f (baseline met)``."""
    model, flags = _cpuinfo()
    present = [f for f in _INTERESTING if f in flags]
    missing = [f for f in BASELINE_FLAGS if f not in flags]
    verdict = "baseline met" if not missing else f"BELOW BASELINE, missing {' '.join(missing)}"
    return f"{model}: {' '.join(present)} ({verdict})"


def llama_system_info() -> str:
    """llama.cpp's own account of the kernels compiled in (``AVX2 = 1 | AMX_INT8 = 0 ...``),
    the features that are on only."""
    import llama_cpp

    raw = llama_cpp.llama_print_system_info()
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    on = [
        part.split("=")[0].strip()
        for part in text.replace("CPU :", "").split("|")
        if part.strip().endswith("= 1")
    ]
    return " ".join(on) or text.strip()


def engine_cpu_line(kind: str, engine_name: str, device: str = "cpu") -> str:
    """One line on what ``kind``'s engine runs with: the device (``cpu``, ``gpu``/``cuda``)
    and, on the CPU, the kernels it uses; a remote engine runs no model here."""
    if engine_name.startswith("deterministic"):
        return "pure Python (deterministic test backend)"
    if engine_name.startswith("openai:"):
        return "remote inference server (OpenAI-compatible API): no model in this process"
    try:
        if kind == "llm":
            if device != "cpu":
                return "llama.cpp on the GPU (all layers offloaded)"
            return f"llama.cpp CPU: {llama_system_info()}"
        if kind == "stt":
            import ctranslate2

            if device == "cuda":
                return (
                    f"CTranslate2 {ctranslate2.__version__} on the GPU (cuda), compute "
                    "type int8_float16"
                )
            types = ",".join(sorted(ctranslate2.get_supported_compute_types("cpu")))
            return (
                f"CTranslate2 {ctranslate2.__version__} cpu, compute type int8 (supported: {types})"
            )
        if kind in ("tts", "embed", "vad"):
            import onnxruntime

            return f"onnxruntime {onnxruntime.__version__} {onnxruntime.get_device()}"
    except Exception as exc:  # a report line must never stop a start-up
        return f"unknown ({type(exc).__name__})"
    return "cpu"
