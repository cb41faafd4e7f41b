"""A child with its own view of ``/opt/ml``, without a container engine.

Many SageMaker scripts hardcode ``/opt/ml/...`` (``/opt/ml/model``,
``/opt/ml/processing/input``). On Linux an unprivileged process can get a
private user + mount namespace (``unshare``) in which the job's directory is
bind-mounted at ``/opt/ml``; the host's ``/opt`` is untouched and its other
entries stay visible (they are bound back over the private ``/opt``). Where
the kernel refuses user namespaces, callers fall back to the base-directory
variable and say so in the job's log.

The same namespace can show its own ``/etc/hosts``: the machine's, plus the
job's host names (``algo-1``...), so code that reaches a peer by its name, as
on SageMaker, finds it; and a host of a multi-host job may be shown as a
machine of its own (:mod:`services.runners.host_view`).

A job with ``EnableNetworkIsolation`` also gets a network namespace of its
own (``unshare --net``) whose only interface is its own loopback, brought up
before the job starts: it reaches nothing of the machine's, not even a
server on the machine's loopback, but sockets among its own processes work.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

OPT_ML = "/opt/ml"

# $0 = the job directory, $1 = an empty staging directory, $2 = a hosts file to
# show as /etc/hosts (or ""), $3 = a Python interpreter to bring the loopback
# interface up with (or "": the namespace has the machine's network), $4 = the
# code it runs, $5 = a host view's prelude to source last (or ""), then the
# command.
# /opt is bound to the stage first, so its entries can be bound back over the
# private tmpfs: everything else under /opt (package mirrors...) stays reachable.
# The job directory is bound recursively: a FastFile channel is a FUSE mount
# inside it, which a plain bind would show as an empty directory.
_SCRIPT = r"""
set -e
job="$0"; stage="$1"; hosts="$2"; python="$3"; loopback="$4"; view="$5"; shift 5
if [ -n "$python" ]; then "$python" -c "$loopback"; fi
if [ -n "$hosts" ] && [ -e /etc/hosts ]; then mount --bind "$hosts" /etc/hosts; fi
mkdir -p "$stage"
mount --rbind /opt "$stage"
mount -t tmpfs headwater-opt /opt
for e in "$stage"/* "$stage"/.[!.]*; do
  [ -e "$e" ] || continue
  n=$(basename "$e")
  [ "$n" = ml ] && continue
  if [ -d "$e" ]; then mkdir -p "/opt/$n"; else touch "/opt/$n"; fi
  mount --rbind "$e" "/opt/$n"
done
mkdir -p /opt/ml
mount --rbind "$job" /opt/ml
if [ -n "$view" ]; then . "$view"; fi
cd /opt/ml
exec "$@"
"""


# Sets IFF_UP on "lo" (SIOCGIFFLAGS, then SIOCSIFFLAGS with a 40-byte struct ifreq): no iproute2 needed.
LOOPBACK_UP = """
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH22x", fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))
"""


@functools.cache
def namespaces_available() -> bool:
    """Whether this kernel lets an unprivileged process make a user + mount namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        probe = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "sh", "-c",
                                "mount -t tmpfs probe /mnt 2>/dev/null || mount -t tmpfs probe /tmp"],
                               capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@functools.cache
def network_namespaces_available() -> bool:
    """Whether this kernel also lets it make a network namespace and bring its loopback up in it."""
    if not namespaces_available():
        return False
    try:
        probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "--net", sys.executable, "-c",
                                LOOPBACK_UP], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def stage_dir(job_dir: Path) -> Path:
    """The empty directory beside ``job_dir`` that the host's ``/opt`` is bound to inside the namespace."""
    return job_dir.parent / f".opt-{job_dir.name}"


def write_hosts_file(job_dir: Path, hosts: dict[str, str], etc_hosts: Path = Path("/etc/hosts")) -> Path:
    """``<job_dir>/.hosts``: the machine's ``etc_hosts`` and a line per name in ``hosts`` (name -> address)."""
    try:
        machine = etc_hosts.read_text()
    except OSError:  # none to extend: the job's names alone
        machine = ""
    lines = [f"{address}\t{name}" for name, address in hosts.items()]
    path = job_dir / ".hosts"
    path.write_text(machine.rstrip("\n") + "\n# the job's hosts\n" + "\n".join(lines) + "\n")
    return path


def wrap_command(job_dir: Path, argv: list[str], hosts_file: Path | None = None, view: Path | None = None,
                 root_capabilities: bool = False, network_isolated: bool = False) -> list[str]:
    """``argv`` run with ``job_dir`` mounted at ``/opt/ml`` in a private namespace (and ``hosts_file``,
    when given, as its ``/etc/hosts``; ``view``, a host view's prelude, sourced in it with a host name of its
    own). With ``root_capabilities`` there is no user namespace: the node's root runs it (the node must be
    root), in a mount namespace whose mounts stay private to it. ``network_isolated``: in a network
    namespace of its own too, with only its loopback up."""
    user = [] if root_capabilities else ["--user", "--map-root-user"]
    uts = ["--uts"] if view else []
    net = ["--net"] if network_isolated else []
    return ["unshare", *user, "--mount", "--propagation", "private", *uts, *net, "sh", "-c", _SCRIPT,
            str(job_dir.resolve()), str(stage_dir(job_dir).resolve()),
            str(hosts_file.resolve()) if hosts_file else "",
            sys.executable if network_isolated else "", LOOPBACK_UP if network_isolated else "",
            str(view.resolve()) if view else "", *argv]
