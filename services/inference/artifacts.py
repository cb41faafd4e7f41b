"""Model artifacts for hosting: fetch ``model.tar.gz`` once, extract it safely per instance.

A model archive comes from a user: members with absolute paths, ``..``,
links or devices could write outside the instance's ``model/`` directory,
so they are refused by name before anything is written.
"""

from __future__ import annotations

import asyncio
import hashlib
import tarfile
from pathlib import Path, PurePosixPath

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.core.exceptions import JobFailed


class ArtifactCache:
    """Downloads each ``ModelDataUrl`` once into ``root``."""

    def __init__(self, s3: S3Adapter, root: Path) -> None:
        self.s3 = s3
        self.root = root
        self._locks: dict[str, asyncio.Lock] = {}

    async def fetch(self, url: str) -> Path:
        """The local copy of ``url`` (an ``s3://`` object), downloading it if needed."""
        local = self.root / hashlib.sha256(url.encode()).hexdigest()[:24] / "model.tar.gz"
        async with self._locks.setdefault(url, asyncio.Lock()):
            if local.is_file():
                return local
            bucket, key = parse_s3_uri(url)
            if await self.s3.head(bucket, key) is None:
                raise JobFailed(f"Failed to download model data from {url}: the object does not exist.")
            partial = local.with_suffix(".part")
            await self.s3.download_file(bucket, key, partial)
            partial.replace(local)
        return local


def check_member(member: tarfile.TarInfo) -> None:
    """Refuse a member that could land outside the extraction directory."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise JobFailed(f"Model archive member {member.name!r} has an absolute or parent path; refusing it.")
    if not (member.isfile() or member.isdir()):
        raise JobFailed(f"Model archive member {member.name!r} is a link or device; refusing it.")


def extract_model(archive: Path, dest: Path) -> None:
    """Extract a model archive into ``dest`` (created), refusing unsafe members."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member)
            tar.extractall(dest, members=members, filter="data")
    except tarfile.TarError as err:
        raise JobFailed(f"The model data is not a readable tar.gz archive: {err}") from err
