# One command per check. `make test` and `make sandbox` set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test lint typecheck pytest run sandbox bench clean redis-server-installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite starts its own redis-server; install Debian's package if the machine lacks it.
# redis-cli (Debian's redis-tools, which redis-server depends on) builds the test cluster.
redis-server-installed:
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { \
	  echo "redis-server or redis-cli not found: installing Debian's redis-server and redis-tools"; \
	  apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null; }

# Two workers, each with its own redis-server; one when PMC_TEST_REDIS_URL names a shared one.
PYTEST_WORKERS ?= $(if $(PMC_TEST_REDIS_URL),0,2)

pytest: $(STAMP) redis-server-installed
	env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy -u ALL_PROXY -u all_proxy \
	    $(BIN)/pytest -q -n $(PYTEST_WORKERS)

# The product in a terminal, no tokens, no Redis: `make sandbox` (ARGS=--demo for history).
sandbox: $(STAMP)
	env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy -u ALL_PROXY -u all_proxy \
	    $(BIN)/pm-coach sandbox $(ARGS)

# Benchmarks against baselines measured in the same run (see README, "Performance").
bench: $(STAMP) redis-server-installed
	env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy -u ALL_PROXY -u all_proxy \
	    $(BIN)/python -m bench $(ARGS)

run: $(STAMP)
	$(BIN)/pm-coach run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
