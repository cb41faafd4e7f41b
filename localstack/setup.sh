#!/usr/bin/env bash
# Creates localstack/.venv: LocalStack (host mode, no Docker) in its own
# virtualenv, separate from the project's. Idempotent: re-running it on a
# complete environment only re-checks it. The stamp file
# localstack/.venv/.installed is written last, so an interrupted or failed
# install is redone on the next run.
#
#   PYTHON=python3.11 bash localstack/setup.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$HERE/.venv"
STAMP="$VENV/.installed"
REQS="$HERE/requirements.txt"

log() { printf 'localstack/setup.sh: %s\n' "$*" >&2; }

# Debian ships venv/ensurepip in a separate package (python3.X-venv). Install
# it only when creating a virtualenv is actually impossible without it.
ensure_venv_support() {
    if "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "$PYTHON lacks the venv/ensurepip modules and apt-get is unavailable"
        return 1
    fi
    local pyver sudo=""
    pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
            log "python${pyver}-venv is needed; install it as root and re-run"; return 1
        fi
    fi
    log "installing python${pyver}-venv with apt-get"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${pyver}-venv" \
        || $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    log "interpreter not found: $PYTHON"
    exit 1
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 10))' \
    || { log "$PYTHON is too old: localstack-core 4.13.1 needs Python >= 3.10"; exit 1; }

# Remove the stamp first: if anything below fails, the next run redoes it.
STAMP_WAS_FRESH=0
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$REQS" ]; then STAMP_WAS_FRESH=1; fi
rm -f "$STAMP"

# A virtualenv whose creation was interrupted may have a python but no pip.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    ensure_venv_support
    log "creating $VENV with $PYTHON"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    STAMP_WAS_FRESH=0
fi

# pip runs only when the requirements changed since the last complete run (or
# LocalStack does not import); everything after it is cheap and always re-run.
INSTALLED=0
if [ "$STAMP_WAS_FRESH" -eq 1 ] && "$VENV/bin/python" -c 'import localstack' >/dev/null 2>&1; then
    log "requirements unchanged, skipping pip"
else
    log "installing LocalStack into $VENV (about a minute)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
    INSTALLED=1
fi

"$VENV/bin/python" -c 'import localstack, localstack.runtime.main' \
    || { log "LocalStack is installed but does not import"; exit 1; }

# Prebuild the AWS service catalog index that LocalStack otherwise builds on
# every start (~4 s); launcher.py copies it into each instance. An
# optimisation only: a failure here is a warning, not an error.
CATALOG_DIR="$VENV/service-catalog"
if [ "$INSTALLED" -eq 1 ] || ! compgen -G "$CATALOG_DIR/service-catalog-*.dill" >/dev/null; then
    log "building the service catalog index"
    work="$(mktemp -d)"
    mkdir -p "$work/usr/lib/localstack"
    if (cd "$work" && FILESYSTEM_ROOT="$work" OVERRIDE_IN_DOCKER=0 CONFIG_DIR="$work/config" \
            DISABLE_EVENTS=1 "$VENV/bin/python" -m localstack.aws.spec) >"$work/build.log" 2>&1 \
        && compgen -G "$work/usr/lib/localstack/service-catalog-*.dill" >/dev/null; then
        rm -rf "$CATALOG_DIR"
        mkdir -p "$CATALOG_DIR"
        mv "$work"/usr/lib/localstack/service-catalog-*.dill "$CATALOG_DIR/"
    else
        log "warning: could not prebuild the service catalog (LocalStack starts ~4 s slower):"
        tail -n 20 "$work/build.log" >&2 || true
    fi
    rm -rf "$work"
fi

touch "$STAMP"
log "ready: $VENV"
