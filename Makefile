# community-grid: `make demo` runs the main job, `make test` the tests.
# Both run `make setup` first, which is idempotent and fast the second time.
VENV   := .venv
BIN    := $(VENV)/bin
GRID   := $(BIN)/grid

# The lock: every Python dependency pinned with hashes, for Python 3.11 and newer
# on any platform, resolved from plain PyPI by uv (in a tool venv under var/).
# `--fork-strategy fewest`: one version of a package for every Python where one
# fits (Debian 12's 3.11 and Debian 13's 3.13 get the same numpy and scipy, so
# the same code type-checks and tests the same on both).
UV_VERSION := 0.13.9
UV         := var/tools/uv/bin/uv

.PHONY: setup demo test lint format bench clean-db lock

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

# `make lock` after a change to pyproject.toml keeps the other pins;
# `make lock UPGRADE=1` moves every pin to the newest release.
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	  --fork-strategy fewest \
	  --generate-hashes --no-config --index-url https://pypi.org/simple \
	  $(if $(UPGRADE),--upgrade,) -o requirements.lock

$(UV):
	python3 -m venv var/tools/uv
	PIP_CONFIG_FILE=/dev/null var/tools/uv/bin/pip install -q \
	  --index-url https://pypi.org/simple uv==$(UV_VERSION)

clean-db:
	-$(GRID) db stop
	rm -rf var/pgdata
