# The two quick-start commands: `make run` and `make test`. Both create the
# virtual environment they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# Without a KnowBe4 token the exporter runs against its built-in simulator.
run: $(STAMP)
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
