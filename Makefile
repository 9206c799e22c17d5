# The two quick-start commands: `make run` and `make test`. Both create the
# virtual environment on first use and install only what they need: `make run`
# the package and its runtime dependencies, `make test` the test and lint
# toolchain on top. Either may come first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check
# The package and its runtime dependencies (what `make run` needs).
RUN_STAMP := $(VENV)/.run-stamp
# The same plus the test and lint toolchain (what `make test` needs).
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# Editable installs: a change to the code takes effect without reinstalling.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

# The test install holds everything the run install does, so it refreshes both stamps.
$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test]'
	touch $@ $(RUN_STAMP)

# Without a KnowBe4 token the exporter runs against its built-in simulator.
run: $(RUN_STAMP)
	@if [ -n "$$KB4_API_TOKEN$$KB4_API_TOKEN_FILE$$KB4_CONFIG_FILE" ]; then \
		exec $(BIN)/kb4-exporter serve $(ARGS); \
	else \
		echo "No KB4_API_TOKEN, KB4_API_TOKEN_FILE or KB4_CONFIG_FILE: serving the built-in simulator (demo mode)."; \
		exec $(BIN)/kb4-exporter serve --demo $(ARGS); \
	fi

lint: $(STAMP)
	$(BIN)/ruff check kb4_exporter tests grafana deploy
	$(BIN)/ruff format --check kb4_exporter tests grafana deploy
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m "not slow and not benchmark"

test: lint
	$(BIN)/pytest -m "not benchmark"

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
