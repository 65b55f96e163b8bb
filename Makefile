# Parley: two commands on a fresh Debian 12 machine with Python 3.11.
#   make run    set up everything and start the whole system (parley up)
#   make test   set up everything and run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# llama-cpp-python compiles from source (about 15 min on 2 cores, then cached by pip).
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF
export PIP_DISABLE_PIP_VERSION_CHECK := 1

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
	$(PY) -m actors.models.assets smart-turn >/dev/null

# torch first, from the CPU file on disk, so nothing can pull a CUDA build later.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,tts-piper]'
	touch $(STAMP)

# espeak-ng: the Korean voice and test speech; sox: audio conversion in tests.
system-deps:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox >/dev/null; }

# Headless Chromium and playwright-core for the real-browser test; fonts-nanum so Korean
# text renders in screenshots.
browser-deps:
	@{ command -v chromium && dpkg -s fonts-nanum; } >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-nanum >/dev/null; }
	@test -d node_modules/playwright-core || npm install --no-audit --no-fund --silent

lint: install
	$(VENV)/bin/ruff check actors bus edge persistence parley bench tests
	$(VENV)/bin/mypy

bench: install
	$(VENV)/bin/parley bench bus
	$(VENV)/bin/parley bench rag
	$(VENV)/bin/parley bench sessions
	$(VENV)/bin/parley bench models

clean:
	rm -rf $(VENV) .cache node_modules
