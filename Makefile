# The commands of the README: `make run`, `make test` and `make bench`. Each sets up .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install bench

$(STAMP): backend/pyproject.toml backend/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c backend/constraints.txt -e 'backend[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/nexus-ai db upgrade
	$(BIN)/nexus-ai ensure-admin --host 127.0.0.1 --port 8000
	$(BIN)/nexus-ai serve --host 127.0.0.1 --port 8000

# PostgreSQL and Redis run on every machine of this kind: the suite uses them unless told otherwise (and in CI,
# CI=true, fails rather than skips when they are unreachable).
TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
export TEST_DATABASE_URL TEST_REDIS_URL

test: $(STAMP)
	cd backend && ../$(BIN)/python -m pytest

lint: $(STAMP)
	cd backend && ../$(BIN)/ruff check app tests && ../$(BIN)/ruff format --check app tests && ../$(BIN)/mypy app

# Nexus vs a direct GigaChat SDK call to the same fake, on PostgreSQL (BENCH_PG_URL, a server it may create
# databases on) and SQLite; prints the table of bench/README.md. BENCH_ARGS="--repeat 3" for medians.
bench: $(STAMP)
	$(BIN)/python bench/chat_bench.py $(BENCH_ARGS)
