# Two entry points, both self-contained on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS ?= dev,plot,envs,ray,train
# The CPU build of torch: on our machines this exact version is a local wheel; any other spec pulls a
# multi-GB CUDA build. Installed before the extras so that their `torch>=2.1` is already satisfied.
TORCH ?= torch==2.13.0

.PHONY: setup demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/hgpo demo

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider || [ $$? -eq 5 ]

bench: setup
	$(PY) benchmarks/advantages.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
