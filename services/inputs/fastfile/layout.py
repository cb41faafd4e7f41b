"""What a FastFile mount shows: a channel's objects as a read-only directory tree.

The tree is the one File mode would download (the same relative paths, from
:func:`services.inputs.channels.channel_objects`); directories are synthesized from
the key paths, as S3 has none. Keys come from users, so a path that would
leave the mount (``..`` segments, an absolute key) fails the job, as
:func:`services.inputs.channels.safe_destination` does for File mode; so does a key
that is both a file and a directory (``a`` and ``a/b``), which no filesystem
can show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from services.core.exceptions import JobFailed


@dataclass(frozen=True)
class FastFileEntry:
    """One object of a mounted channel: its path below the mount, where it lives, its size."""

    path: str  # "/"-separated, normalized, never empty
    bucket: str
    key: str
    size: int
    etag: str = ""  # reads are conditional on it: a replaced object fails instead of mixing versions

    def to_json(self) -> dict[str, Any]:
        """The entry as the mount process receives it."""
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FastFileEntry:
        """The entry back from :meth:`to_json`."""
        return cls(path=str(doc["path"]), bucket=str(doc["bucket"]), key=str(doc["key"]),
                   size=int(doc["size"]), etag=str(doc.get("etag", "")))


def mount_path(relative: str) -> str:
    """``relative`` normalized below the mount root; refuses anything that would land outside it."""
    pure = PurePosixPath(relative)
    parts = [p for p in pure.parts if p not in ("", "/", ".")]
    if not parts or ".." in parts or pure.is_absolute():
        raise JobFailed(f"Object key path {relative!r} would be outside its channel directory")
    return "/".join(parts)


class FileTree:
    """The directories and files of one mount, looked up by the paths FUSE passes (``/a/b``)."""

    def __init__(self, entries: list[FastFileEntry]) -> None:
        self.files: dict[str, FastFileEntry] = {}
        self.dirs: dict[str, set[str]] = {"": set()}
        for entry in entries:
            path = mount_path(entry.path)
            if path in self.dirs:
                raise JobFailed(f"Object key path {entry.path!r} is both a file and a directory")
            # A path listed twice (a manifest) is one file, as a download would leave it.
            self.files[path] = replace(entry, path=path)
            parent, _, name = path.rpartition("/")
            self._add_dir(parent)
            self.dirs[parent].add(name)

    def _add_dir(self, path: str) -> None:
        """Make ``path`` and every missing ancestor, each named in its parent."""
        if path in self.files:
            raise JobFailed(f"Object key path {path!r} is both a file and a directory")
        if path in self.dirs:  # the root ("") always is: every walk up ends there
            return
        self.dirs[path] = set()
        parent, _, name = path.rpartition("/")
        self._add_dir(parent)
        self.dirs[parent].add(name)

    @staticmethod
    def _key(path: str) -> str:
        return path.strip("/")

    def file(self, path: str) -> FastFileEntry | None:
        """The object at FUSE path ``path``, or ``None``."""
        return self.files.get(self._key(path))

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a (synthesized) directory."""
        return self._key(path) in self.dirs

    def children(self, path: str) -> list[str]:
        """The names in directory ``path``, sorted."""
        return sorted(self.dirs.get(self._key(path), ()))

    @property
    def total_size(self) -> int:
        """Bytes of every file (what File mode would download)."""
        return sum(e.size for e in self.files.values())


# The mount process's stdout lines the worker acts on (anything else is logged as is).
READY_LINE = "headwater-fastfile: ready"
ERROR_PREFIX = "headwater-fastfile: read-error "  # + JSON {path, offset, uri, error}
STATS_PREFIX = "headwater-fastfile: stats "  # + JSON {channel, fetched, total, files, errors}
FS_TYPE = "headwater-fastfile"  # the mount's subtype: /proc mounts list it as fuse.headwater-fastfile
