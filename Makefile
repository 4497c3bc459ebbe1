# Two entry points, both self-contained on a fresh machine: `make demo` and `make test`.
# Both create .venv (if needed) and install what they need into it; nothing is expected to be installed by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The venv's bin first on PATH: fast-downward-textworld (the alfworld extra) builds with a bare `python`.
PIP := PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pip

# What the main job needs, and what the test suite needs on top of it.
DEMO_EXTRAS ?= plot,envs,webshop,alfworld
TEST_EXTRAS ?= dev,plot,envs,ray,train,webshop,browser,alfworld,sb3,minilm
# The CPU build of torch: on our machines this exact version is a local wheel; any other spec pulls a
# multi-GB CUDA build. Installed before the extras so that their `torch>=2.1` is already satisfied.
TORCH ?= torch==2.13.0

.PHONY: setup demo test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e ".[$(DEMO_EXTRAS)]"
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[$(TEST_EXTRAS)]"
	touch $@

setup: $(VENV)/.test-installed

demo: $(VENV)/.demo-installed
	$(VENV)/bin/hgpo demo

test: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider || [ $$? -eq 5 ]

bench: $(VENV)/.test-installed
	$(PY) benchmarks/advantages.py
	$(PY) benchmarks/rollouts.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis out
