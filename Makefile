# bankstream: the two commands are `make run` and `make test`. Everything else is for developers.
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN := $(UV) run --frozen

.PHONY: setup run down status test test-fast lint format bench bench-quick chaos clean

setup:  ## install what the other targets need (uv, the venv, Java, Maven, PostgreSQL, Kafka jars)
	@./deploy/setup.sh

run: setup  ## the whole stack on local Kafka, PostgreSQL and the Plaid emulator, with demo data
	$(RUN) python -m bankstream_devstack.run

down:  ## stop what `make run` left running (Kafka, PostgreSQL)
	$(RUN) devstack down

status:
	$(RUN) devstack status

test: setup  ## every test, against a real Kafka broker and PostgreSQL started for the run
	$(RUN) pytest

test-fast: setup  ## the tests that need no broker or database
	$(RUN) pytest -m "not integration and not e2e"

chaos: setup  ## the long chaos run on a Kafka and PostgreSQL of its own (CHAOS_ARGS="--seed 7 --rounds 60 ...")
	$(RUN) python -m bankstream_devstack.chaos $(CHAOS_ARGS)

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy libs/common/src services/*/src tools/*/src
	$(RUN) lint-imports

format:
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

bench: setup  ## benchmarks: a table and JSON (bench/results/latest.json)
	$(RUN) python bench/run.py

bench-quick: setup
	$(RUN) python bench/run.py --quick

clean: down  ## remove the venv, caches and the persistent data of `make run`
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache .import_linter_cache bench/results
	rm -rf "$${BANKSTREAM_STATE_DIR:-$${XDG_STATE_HOME:-$$HOME/.local/state}/bankstream}"
