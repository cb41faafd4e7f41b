"""Object bodies, one file each, written once and made durable before anything refers to them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from infra.emulator_state.journal import fsync_dir


class BlobStore:
    """Immutable files under one directory, named by :meth:`new_name`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob("*.tmp"):  # a write cut off by a crash: nothing refers to it
            stale.unlink(missing_ok=True)

    @staticmethod
    def new_name() -> str:
        """A name no other blob has."""
        return uuid.uuid4().hex

    def write(self, name: str, chunks: Iterable[bytes]) -> None:
        """Write the blob ``name`` and ``fsync`` it; call :meth:`sync` before referring to it."""
        tmp = self.root / f"{name}.tmp"
        with tmp.open("wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.root / name)

    def sync(self) -> None:
        """Make the names of the blobs written so far durable."""
        fsync_dir(self.root)

    def open(self, name: str) -> BinaryIO:
        """The blob ``name`` for reading."""
        return (self.root / name).open("rb")

    def delete(self, name: str) -> None:
        """Remove the blob ``name`` (absent is fine)."""
        (self.root / name).unlink(missing_ok=True)

    def names(self) -> set[str]:
        """Every blob on disk."""
        return {p.name for p in self.root.iterdir() if not p.name.endswith(".tmp")}
