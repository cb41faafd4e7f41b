#!/usr/bin/env bash
# Creates each framework image's own Python environment, .images/<image>/, from
# containers/<image>/requirements.txt: what the image's Dockerfile installs, so that
# under the process runner a PyTorch, scikit-learn or XGBoost script imports the
# image's libraries (torchvision, pandas, ...) and never the node's (the two sets
# cannot clash).
#
# Idempotent and cheap on re-runs: the stamp .images/<image>/.installed holds a
# hash of the requirements file, the interpreter's version and the machine type;
# while it matches, nothing is installed. It is removed before and written after
# an install, so an interrupted or failed one is redone on the next run.
#
#   PYTHON=python3.11 bash containers/environments.sh [image ...]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON="${PYTHON:-python3}"
# The framework images (script mode); the built-in algorithms run on the node's own environment.
IMAGES=("$@")
[ "${#IMAGES[@]}" -gt 0 ] || IMAGES=(pytorch sklearn xgboost_framework)

log() { printf 'containers/environments.sh: %s\n' "$*" >&2; }

command -v "$PYTHON" >/dev/null 2>&1 || { log "interpreter not found: $PYTHON"; exit 1; }

# Free space an image's install needs, in GiB: PyTorch's wheels for this machine are a CUDA build
# (it runs on the CPU), about 5.5 GiB installed.
need_gib() { case "$1" in pytorch) echo 8 ;; *) echo 2 ;; esac; }
# What must import once an image's environment is installed: its container module and its framework.
imports() {
    case "$1" in
        pytorch) echo "containers.pytorch.serve, torch, torchvision" ;;
        sklearn) echo "containers.sklearn.serve, sklearn, pandas" ;;
        xgboost_framework) echo "containers.xgboost_framework.serve, xgboost, sklearn, pandas" ;;
        *) echo "containers.$1" ;;
    esac
}

for image in "${IMAGES[@]}"; do
    reqs="$HERE/$image/requirements.txt"
    venv="$ROOT/.images/$image"
    stamp="$venv/.installed"
    [ -f "$reqs" ] || { log "no $reqs"; exit 1; }
    want="$( { cat "$reqs"; "$PYTHON" -c 'import sys; print(sys.version)'; uname -m; } | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
        log "$image: requirements unchanged, nothing to do"
        continue
    fi
    rm -f "$stamp"
    fresh=0
    # A virtualenv whose creation was interrupted may have a python but no pip.
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        fresh=1
        if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            log "installing python3-venv with apt-get"
            DEBIAN_FRONTEND=noninteractive apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
        fi
        rm -rf "$venv"
        mkdir -p "$(dirname "$venv")"
        "$PYTHON" -m venv "$venv"
    fi
    # A first install needs the room; an update of a built one installs only what changed.
    free_gib=$(( $(df -Pk "$venv" | awk 'NR == 2 {print $4}') / 1048576 ))
    if [ "$fresh" -eq 1 ] && [ "$free_gib" -lt "$(need_gib "$image")" ]; then
        log "$image: needs about $(need_gib "$image") GiB free next to $venv, $free_gib GiB are"; exit 1
    fi
    log "$image: installing $reqs into $venv ($(uname -m))"
    start=$SECONDS
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs"
    PYTHONPATH="$ROOT" "$venv/bin/python" -c "import $(imports "$image")" \
        || { log "$image: installed, but $(imports "$image") do not import"; exit 1; }
    printf '%s\n' "$want" > "$stamp"
    log "$image: ready in $(( SECONDS - start )) s: $venv"
done
