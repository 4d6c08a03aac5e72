# community-grid: `make demo` runs the main job, `make test` the tests.
# Both run `make setup` first, which is idempotent and fast the second time.
VENV   := .venv
BIN    := $(VENV)/bin
GRID   := $(BIN)/grid

.PHONY: setup demo test lint format bench clean-db

setup:
	@bash scripts/setup.sh

demo: setup
	$(GRID) demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m bench.run

clean-db:
	-$(GRID) db stop
	rm -rf var/pgdata
