# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each bootstraps what it needs; nothing here assumes a hand-installed tool.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCALSTACK_STAMP := localstack/.venv/.installed

.PHONY: demo test test-unit test-integration test-e2e test-localstack venv localstack-env bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

localstack-env: $(LOCALSTACK_STAMP)

$(LOCALSTACK_STAMP): localstack/requirements.txt localstack/setup.sh
	PYTHON=$(PYTHON) bash localstack/setup.sh

demo: $(STAMP)
	$(BIN)/headwater demo

# Every tier runs in CI; a tier that cannot run fails loudly rather than skipping.
test: $(STAMP) $(LOCALSTACK_STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

test-localstack: $(STAMP) $(LOCALSTACK_STAMP)
	$(BIN)/python -m pytest tests/localstack

bench: $(STAMP)
	$(BIN)/python bench/event_latency.py

clean:
	rm -rf $(VENV) localstack/.venv .headwater
