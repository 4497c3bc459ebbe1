# Two entry points, both self-contained on a fresh machine: `make demo` and `make test`.
# Both create .venv (if needed) and install what they need into it; nothing is expected to be installed by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The venv's bin first on PATH: fast-downward-textworld (the alfworld extra) builds with a bare `python`.
PIP := PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pip

# What the main job needs, and what the test suite needs on top of it.
DEMO_EXTRAS ?= plot,envs,webshop,alfworld
TEST_EXTRAS ?= dev,plot,envs,ray,train,webshop,browser,alfworld,textworld,sb3,minilm,trl,skyrl
# The CPU build of torch: on our machines this exact version is a local wheel; any other spec pulls a
# multi-GB CUDA build. Installed before the extras so that their `torch>=2.1` is already satisfied.
TORCH ?= torch==2.13.0

.PHONY: setup demo test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# ALFWorld's domain and grammar files ship in the `alfworld` wheel (pure Python), whose own dependencies
# include TextWorld (a C++ build): the demo takes the wheel's data without them.
ALFWORLD_DATA ?= alfworld>=0.4.2,<0.6

$(VENV)/.demo-installed: pyproject.toml Makefile | $(VENV)/bin/python
	$(PIP) install --quiet -e ".[$(DEMO_EXTRAS)]"
	$(PIP) install --quiet --no-deps "$(ALFWORLD_DATA)"
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
	$(MAKE) --no-print-directory test-verl

# verl 0.9 pins transformers <5.11 and tensordict <=0.10, below the main test extras: its tests (and the
# SkyRL trainer tests, whose `skyrl` package shares that transformers range) run in a virtualenv of their own.
# Torch first, as above; HGPO_TEST_VENV=verl makes those test modules require their extras (CI=true: fail).
VERL_VENV ?= .venv-verl
VERL_PIP := $(VERL_VENV)/bin/python -m pip
VERL_TESTS := $(wildcard tests/app/integrations/test_verl*.py tests/app/integrations/test_skyrl*.py)

$(VERL_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VERL_VENV)
	$(VERL_PIP) install --quiet --upgrade pip
	$(VERL_PIP) install --quiet "$(TORCH)"
	$(VERL_PIP) install --quiet -e ".[dev,envs,webshop,verl,skyrl]" "skyrl==0.3.0" "jaxtyping>=0.2"
	touch $@

.PHONY: test-verl
test-verl: $(VERL_VENV)/.installed
	HGPO_TEST_VENV=verl $(VERL_VENV)/bin/python -m pytest -q -p no:cacheprovider $(VERL_TESTS)

bench: $(VENV)/.test-installed
	$(PY) benchmarks/advantages.py
	$(PY) benchmarks/rollouts.py

clean:
	rm -rf $(VENV) $(VERL_VENV) .pytest_cache .ruff_cache .hypothesis out
