#!/usr/bin/env bash
# Creates tests/sdk_v3/.venv: the SageMaker Python SDK v3 in a virtualenv of
# its own (the project's keeps the v2 SDK; one environment cannot hold both).
# Idempotent: on a complete environment whose requirements did not change it
# only re-checks that the SDK imports. The stamp file
# tests/sdk_v3/.venv/.installed is written last, so an interrupted or failed
# install is redone on the next run.
#
#   PYTHON=python3.11 bash tests/sdk_v3/setup.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$HERE/.venv"
STAMP="$VENV/.installed"
REQS="$HERE/requirements.txt"

log() { printf 'tests/sdk_v3/setup.sh: %s\n' "$*" >&2; }

command -v "$PYTHON" >/dev/null 2>&1 || { log "interpreter not found: $PYTHON"; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 10))' \
    || { log "$PYTHON is too old: the SageMaker Python SDK v3 needs Python >= 3.10"; exit 1; }

STAMP_WAS_FRESH=0
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$REQS" ]; then STAMP_WAS_FRESH=1; fi
rm -f "$STAMP"

# A virtualenv whose creation was interrupted may have a python but no pip.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        log "installing python3-venv with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    fi
    log "creating $VENV with $PYTHON"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    STAMP_WAS_FRESH=0
fi

if [ "$STAMP_WAS_FRESH" -eq 1 ] && "$VENV/bin/python" -c 'import sagemaker.train' >/dev/null 2>&1; then
    log "requirements unchanged, skipping pip"
else
    log "installing the SageMaker Python SDK v3 into $VENV (a minute or two)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
fi

"$VENV/bin/python" -c 'import sagemaker.train, sagemaker.core.resources' \
    || { log "the SDK is installed but does not import"; exit 1; }

touch "$STAMP"
log "ready: $VENV"
