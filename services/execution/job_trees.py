"""A job host's directory tree (its ``/opt/ml``), cleared between attempts and once the job has ended.

A restarted attempt starts from a clean tree at the same path. The attempt it
replaces may still be running (its worker stalled and was taken over), and a
container writing into the old tree makes an in-place removal fail with
"Directory not empty". So the old tree is renamed aside first, which is
atomic and cannot be raced, and removed from there as far as it goes.

Once a job has ended, its uploads done, its hosts' trees (inputs, model,
checkpoints: the disk a job takes) are removed and the hosts' logs
(``<host>.log`` beside the trees) are kept, unless the node keeps job trees
(``keep_job_trees``, to look into a job's ``/opt/ml`` after it ended).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from services.runners.namespace import stage_dir

log = logging.getLogger(__name__)


def clear_tree(root: Path) -> None:
    """Make ``root`` not exist, whatever still writes into the tree that was there.

    Leftovers of earlier clears (a tree still written when it was removed) go too.
    """
    if root.exists():
        os.rename(root, root.with_name(f".{root.name}.discarded-{uuid.uuid4().hex[:8]}"))
    for aside in root.parent.glob(f".{root.name}.discarded-*"):
        shutil.rmtree(aside, ignore_errors=True)
        if aside.exists():  # written as it was removed: the next clear, or the job directory's removal, takes it
            log.warning("could not remove all of %s: a container of an earlier attempt still writes into it", aside)


def clear_job_trees(job_dir: Path, hosts: Iterable[str], packed: Iterable[str] = ()) -> None:
    """Remove an ended job's host trees under ``job_dir`` and the ``packed`` files beside them (archives
    already uploaded); the hosts' logs stay."""
    for host in hosts:
        clear_tree(job_dir / host)
        stage = stage_dir(job_dir / host)
        if stage.is_dir():  # the process runner's mount stage: empty on this side of its namespace
            with contextlib.suppress(OSError):
                stage.rmdir()
    for name in packed:
        (job_dir / name).unlink(missing_ok=True)
