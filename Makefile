# Two entry points, both self-contained on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS ?= dev,plot,envs,ray

.PHONY: setup demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
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
