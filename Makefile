# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each bootstraps what it needs; nothing here assumes a hand-installed tool.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCALSTACK_STAMP := localstack/.venv/.installed
SDK_V3_STAMP := tests/sdk_v3/.venv/.installed
ENGINE_STAMP := .engine/.ready

.PHONY: demo test lint-imports test-unit test-integration test-e2e test-faults test-localstack test-containers test-sdk-v3 test-console engine venv fuse images mpi chromium localstack-env sdk-v3-env bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# FastFile channels are FUSE mounts (bytes read from S3 only when the container
# reads them): the mount process needs libfuse3 and fusermount3, Debian's fuse3.
# Checked on every run (cheap), installed only when missing. Without it a
# FastFile channel would be downloaded as File and its tests would fail.
fuse:
	@$(PYTHON) -c "import ctypes.util, sys; sys.exit(ctypes.util.find_library('fuse3') is None)" && command -v fusermount3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null; }

# Each framework image's own Python environment (.images/<image>: PyTorch with torchvision, scikit-learn
# with pandas, XGBoost's framework mode), from its requirements.txt, for the process runner. The script
# keeps a stamp of each requirements file's hash: a re-run with nothing changed installs nothing.
images:
	PYTHON=$(PYTHON) bash containers/environments.sh

# MPI training (the SageMaker SDK v3's distributed=MPI) under the process runner: every host runs
# Debian's SSH server (openssh-server) and Open MPI (openmpi-bin; libopenmpi-dev for mpi4py builds).
# Checked on every run (cheap), installed only when missing. The package starts no server by itself
# where there is no init system; on a machine whose systemd starts ssh.service, it does.
mpi:
	@dpkg -s openssh-server openmpi-bin libopenmpi-dev >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openmpi-bin libopenmpi-dev >/dev/null; }

# The console's browser tests (tests/console): Debian's headless chromium and its chromium-driver, for
# Selenium. Checked on every run (cheap), installed only when missing.
chromium:
	@dpkg -s chromium chromium-driver >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

localstack-env: $(LOCALSTACK_STAMP)

$(LOCALSTACK_STAMP): localstack/requirements.txt localstack/setup.sh
	PYTHON=$(PYTHON) bash localstack/setup.sh

# The SageMaker Python SDK v3 for tests/sdk_v3, in its own virtualenv (.venv keeps the v2 SDK).
sdk-v3-env: $(SDK_V3_STAMP)

$(SDK_V3_STAMP): tests/sdk_v3/requirements.txt tests/sdk_v3/setup.sh
	PYTHON=$(PYTHON) bash tests/sdk_v3/setup.sh

# A real OCI engine for tests/containers (podman + runc + an offline base image); cached.
engine: $(ENGINE_STAMP)

$(ENGINE_STAMP): containers/engine/setup.sh
	bash containers/engine/setup.sh

demo: $(STAMP) fuse
	$(BIN)/headwater demo

# Every tier runs in CI; a tier that cannot run fails loudly rather than skipping.
test: $(STAMP) fuse mpi images chromium $(LOCALSTACK_STAMP) $(SDK_V3_STAMP) $(ENGINE_STAMP) lint-imports
	$(BIN)/python -m pytest -p no:cacheprovider tests

# The layering contracts in pyproject.toml: imports go downward only.
lint-imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

test-console: $(STAMP) chromium
	$(BIN)/python -m pytest tests/console

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP) fuse images
	$(BIN)/python -m pytest tests/integration

test-e2e: $(STAMP) fuse images
	$(BIN)/python -m pytest tests/e2e

test-faults: $(STAMP) fuse images
	$(BIN)/python -m pytest tests/faults

test-localstack: $(STAMP) images $(LOCALSTACK_STAMP) $(SDK_V3_STAMP)
	$(BIN)/python -m pytest tests/localstack

test-containers: $(STAMP) fuse images $(ENGINE_STAMP)
	$(BIN)/python -m pytest tests/containers

test-sdk-v3: $(STAMP) fuse mpi images $(SDK_V3_STAMP)
	$(BIN)/python -m pytest tests/sdk_v3

bench: $(STAMP)
	$(BIN)/python bench/event_latency.py

clean:
	rm -rf $(VENV) localstack/.venv tests/sdk_v3/.venv .images .headwater .engine
