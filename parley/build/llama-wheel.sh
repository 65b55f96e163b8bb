#!/usr/bin/env bash
# Build llama-cpp-python once, for a documented CPU baseline, and cache the wheel.
#
# Why: pip compiles llama-cpp-python from source with -march=native by default. A wheel built
# (or cached, or baked into an image) on one CPU then crashes with SIGILL on another; on Intel
# CPUs with AMX the native build faults in the first decode (ggml-org/llama.cpp #20824). Parley
# builds for x86-64 with AVX2 + FMA + F16C (+ BMI2) and no AVX-512 or AMX, whatever machine runs
# the build, so the same wheel runs on any Intel or AMD CPU from Haswell / Zen 1 upward.
#
# The wheel is kept under ${PARLEY_LLAMA_WHEEL_CACHE:-~/.cache/parley/wheels}/<key>/, where <key>
# hashes the version and every build flag: changing a flag builds anew, a second clone on the
# same machine installs in seconds. pip's own wheel cache is bypassed (it keys on the source
# archive only, so it could hand back a native build made earlier).
#
# Usage: llama-wheel.sh <pip> [version]   prints the path of the wheel on stdout.
set -euo pipefail
PIP=${1:?usage: llama-wheel.sh <pip> [version]}
VERSION=${2:-0.3.36}

BASELINE_FLAGS="-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
-DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF \
-DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
-DGGML_AMX_BF16=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF"
LEAN_FLAGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF \
-DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF"
# Belt and braces: even a stray -march in a vendored file cannot emit AMX instructions.
NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"

export CMAKE_ARGS="$BASELINE_FLAGS $LEAN_FLAGS ${PARLEY_LLAMA_EXTRA_CMAKE_ARGS:-}"
export CFLAGS="$NO_AMX" CXXFLAGS="$NO_AMX"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}

key=$(printf '%s\n' "$VERSION" "$CMAKE_ARGS" "$CFLAGS" "$(uname -m)" "$("${PIP%pip}python" -c 'import sys; print(sys.version_info[:2])')" \
  | sha256sum | cut -c1-16)
dir=${PARLEY_LLAMA_WHEEL_CACHE:-$HOME/.cache/parley/wheels}/llama-cpp-python-$VERSION-$key
wheel=$(ls "$dir"/llama_cpp_python-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$wheel" ]; then
  echo "llama-cpp-python $VERSION: using the portable wheel cached in $dir" >&2
  echo "$wheel"; exit 0
fi
echo "llama-cpp-python $VERSION: compiling for the x86-64 AVX2 baseline (no AVX-512, no AMX)." >&2
echo "  About 5 minutes on 2 cores (AMD EPYC), longer on slower CPUs; once: the wheel is cached in $dir" >&2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
( while sleep 60; do echo "  ... still compiling llama.cpp ($(( ($(date +%s) - start) / 60 )) min)" >&2; done ) &
ticker=$!
trap 'kill $ticker 2>/dev/null; rm -rf "$tmp"' EXIT
"$PIP" wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python -w "$tmp" \
  "llama-cpp-python==$VERSION" >&2
mkdir -p "$dir"
mv "$tmp"/llama_cpp_python-*.whl "$dir"/
echo "  built in $(( ($(date +%s) - start) / 60 )) min" >&2
ls "$dir"/llama_cpp_python-*.whl | head -n 1
