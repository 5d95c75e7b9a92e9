# `make train` and `make test` set up what they need on a fresh machine: `make train` installs
# RestoreLab with its core dependencies only; the tests and the docs add the dev extras (the
# sweepers, BM3D, ONNX export, the demo, MkDocs, pytest).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Test processes (pytest-xdist): one per core of CI's 2, each with its share of the threads; tests
# that share a resource (the Slurm cluster) run on one process. TEST_WORKERS=0 runs in this one.
TEST_WORKERS ?= 2
CORE := $(VENV)/.installed-core
DEV := $(VENV)/.installed-dev

.PHONY: help install train test test-all bench docs clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(CORE): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $(CORE)

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $(DEV) $(CORE)

install: $(DEV)  ## create the virtualenv and install RestoreLab with its dev extras

train: $(CORE)  ## train the embedded default (U-Net, natural images, Gaussian sigma=25, CPU)
	$(BIN)/python train.py $(ARGS)

test: $(DEV)  ## run the test suite (CPU, about 10 minutes on 2 cores)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(ARGS)

bench: $(CORE)  ## training overhead of the framework against a bare PyTorch loop
	$(BIN)/python bench/train_overhead.py $(ARGS)

docs: $(DEV)  ## build the documentation site into site/ (strict: a broken link fails it)
	$(BIN)/mkdocs build --strict

clean:  ## remove run outputs (logs/) and caches, keep the virtualenv
	rm -rf logs site .pytest_cache
