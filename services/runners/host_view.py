"""One host of a multi-host job shown as a machine of its own, inside the process runner's namespace.

On SageMaker every host is an instance: its own host name, ``/tmp`` and ``/etc``, and root may bind any
port. Programs that start a daemon on each host and reach it from the others (MPI's launcher and its SSH
servers) rely on all of it. The process runner's hosts share one machine; a :class:`HostView` tells it what
to make private for one host:

- its host name (a UTS namespace): Open MPI tells hosts apart by ``gethostname()``;
- files shown over the machine's under ``/etc`` (an SSH server's and client's configuration, the
  ``/etc/environment`` a program rewrites), never writing the machine's;
- its own ``/tmp``, in which the machine's entries stay visible (an interpreter or a job directory may live
  there), but what the job creates at its top level is the host's alone;
- with ``root_capabilities``, no user namespace: the node's own root (only when the node runs as root), so
  the host may bind port 22 on its own loopback address.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

PRELUDE = ".host-view.sh"  # in the host's tree, sourced inside its namespace before the program starts

# Each entry of the machine's /tmp is bound into the host's own /tmp, then that tree is bound at /tmp with
# its bindings (rbind): built before /tmp is covered, so a host directory under /tmp stays reachable.
_PRIVATE_TMP = r"""
private_tmp={tmp}
mkdir -p "$private_tmp"
for e in /tmp/* /tmp/.[!.]*; do
  [ -e "$e" ] || continue
  t="$private_tmp/$(basename "$e")"
  if [ -d "$e" ]; then mkdir -p "$t"; else touch "$t"; fi
  mount --rbind "$e" "$t" || true  # gone meanwhile, or not bindable: the host does without it
done
mount --rbind "$private_tmp" /tmp
"""


@dataclass(frozen=True)
class HostView:
    """What one host's processes see as their own machine (see the module's docstring)."""

    hostname: str
    etc: tuple[tuple[str, Path], ...] = ()  # (path under /etc, the job's file shown there); the path must exist
    tmp: Path | None = None  # the host's own /tmp (a directory of the job's)
    root_capabilities: bool = False  # run as the node's root, not in a user namespace of its own


def prelude(view: HostView) -> str:
    """The shell lines that make ``view`` so, run in the host's new namespace (as root there)."""
    lines = ["set -e", f"hostname {shlex.quote(view.hostname)}"]
    for name, source in view.etc:
        lines.append(f"mount --bind {shlex.quote(str(source.resolve()))} {shlex.quote('/etc/' + name)}")
    if view.tmp is not None:
        lines.append(_PRIVATE_TMP.format(tmp=shlex.quote(str(view.tmp.resolve()))))
    return "\n".join(lines) + "\n"


def write_prelude(ml_root: Path, view: HostView) -> Path:
    """``<ml_root>/.host-view.sh``: :func:`prelude` of ``view``."""
    path = ml_root / PRELUDE
    path.write_text(prelude(view))
    return path
