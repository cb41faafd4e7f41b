#!/usr/bin/env bash
# Sets up a real OCI engine for the container test tier, on a Debian machine
# with no Docker engine and no reachable container registry:
#
#   1. podman + runc + debootstrap from Debian's packages (apt-get);
#   2. a containers.conf that uses runc with the cgroupfs manager and low,
#      explicit ulimits (crun and raised rlimits fail in such sandboxes);
#   3. a base image built offline with debootstrap from the Debian mirror the
#      apt sources already use, imported as localhost/headwater-base:bookworm.
#
# Idempotent and cached: a second run does nothing but check. Any failure
# exits non-zero, so `make test` stops loudly instead of skipping the tier.
#
#   ENGINE_DIR   where the config and stamps live (default: <repo>/.engine)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
ENGINE_DIR="${ENGINE_DIR:-$repo/.engine}"
BASE_IMAGE="localhost/headwater-base:bookworm"
SUITE="bookworm"
mkdir -p "$ENGINE_DIR"

say() { echo "engine: $*"; }
trap 'echo "engine: set-up failed at line $LINENO" >&2' ERR

need_packages=()
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || need_packages+=("$tool")
done
if ((${#need_packages[@]})); then
    if [ "$(id -u)" != 0 ]; then
        echo "engine: ${need_packages[*]} missing and not root: install them with apt-get" >&2
        exit 1
    fi
    say "installing ${need_packages[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        podman runc debootstrap catatonit uidmap >/dev/null
fi

conf="$ENGINE_DIR/containers.conf"
cat >"$conf.tmp" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:4096", "nproc=1024:4096"]
netns = "host"
init_path = "/usr/bin/catatonit"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
mv "$conf.tmp" "$conf"
export CONTAINERS_CONF="$conf"

if podman image exists "$BASE_IMAGE"; then
    say "base image $BASE_IMAGE present"
else
    # The Debian mirror the apt sources already use for this suite's main
    # component (not a third-party source): no other network is needed.
    mirror="$(apt-cache policy | awk -v suite="$SUITE/main" '
        /^ *[0-9]+ https?:\/\// { url = $2; comp = $3 }
        /release .*o=Debian,/ && comp == suite { print url; exit }')"
    if [ -z "$mirror" ]; then
        echo "engine: no Debian $SUITE mirror in the apt sources (run apt-get update?)" >&2
        exit 1
    fi
    rootfs="$(mktemp -d "$ENGINE_DIR/rootfs.XXXXXX")"
    trap 'rm -rf "$rootfs"' EXIT
    say "building $BASE_IMAGE with debootstrap from $mirror (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$rootfs" "$mirror" \
        >"$ENGINE_DIR/debootstrap.log" 2>&1 || { tail -n 20 "$ENGINE_DIR/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    say "imported $BASE_IMAGE"
fi
podman run --rm "$BASE_IMAGE" python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || { echo "engine: the base image does not run python3.11" >&2; exit 1; }
touch "$ENGINE_DIR/.ready"
say "ready (CONTAINERS_CONF=$conf)"
