# `make train` and `make test` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install train test test-all bench docs clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create the virtualenv and install RestoreLab with its dev extras

train: $(STAMP)  ## train the embedded default (U-Net, natural images, Gaussian sigma=25, CPU)
	$(BIN)/python train.py $(ARGS)

test: $(STAMP)  ## run the test suite (CPU, a few minutes)
	$(BIN)/python -m pytest -q $(ARGS)

bench: $(STAMP)  ## training overhead of the framework against a bare PyTorch loop
	$(BIN)/python bench/train_overhead.py $(ARGS)

docs: $(STAMP)  ## build the documentation site into site/ (strict: a broken link fails it)
	$(BIN)/mkdocs build --strict

clean:  ## remove run outputs (logs/) and caches, keep the virtualenv
	rm -rf logs site .pytest_cache
