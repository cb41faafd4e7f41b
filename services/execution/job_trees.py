"""A job host's directory tree (its ``/opt/ml``), cleared between attempts.

A restarted attempt starts from a clean tree at the same path. The attempt it
replaces may still be running (its worker stalled and was taken over), and a
container writing into the old tree makes an in-place removal fail with
"Directory not empty". So the old tree is renamed aside first, which is
atomic and cannot be raced, and removed from there as far as it goes.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

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
