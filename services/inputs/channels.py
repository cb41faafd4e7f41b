"""Fetching a channel's S3 data into ``<base>/input/data/<channel>/``.

Object keys come from users, so every destination is checked to stay
inside the channel directory: keys with ``..`` segments or absolute paths
fail the job instead of writing elsewhere.
"""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath

from services.aws.s3 import S3Adapter, S3Object, parse_s3_uri
from services.core.exceptions import JobFailed
from services.inputs.manifests import read_manifest
from services.inputs.models import Channel

_PARALLEL_DOWNLOADS = 8


def safe_destination(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that would land outside ``root``."""
    parts = [p for p in PurePosixPath(relative).parts if p not in ("", "/", ".")]
    if not parts or ".." in parts or PurePosixPath(relative).is_absolute():
        raise JobFailed(f"Object key path {relative!r} would be written outside its channel directory")
    dest = root.joinpath(*parts)
    if not dest.resolve().is_relative_to(root.resolve()):
        raise JobFailed(f"Object key path {relative!r} would be written outside its channel directory")
    return dest


def relative_key(prefix: str, key: str) -> str:
    """A key's path below the channel: what follows the prefix, or the object's
    own name when the URI names the object itself (as SageMaker lays it out)."""
    rest = key[len(prefix):].lstrip("/")
    return rest or PurePosixPath(key).name


async def channel_objects(s3: S3Adapter, channel: Channel, shard: tuple[int, int] | None = None
                          ) -> tuple[list[S3Object], dict[tuple[str, str], str]]:
    """The objects of an ``S3Prefix`` or ``ManifestFile`` channel (this host's share) and
    each one's path below the channel directory.

    ``shard`` = (host index, host count): with ``ShardedByS3Key`` each host
    gets every count-th object of the sorted keys, as SageMaker splits them.
    """
    source = channel.data_source.s3_data_source
    if source is None:
        raise JobFailed(f"Channel {channel.channel_name}: only S3DataSource is supported")
    if source.s3_data_type not in ("S3Prefix", "ManifestFile"):
        raise JobFailed(f"Channel {channel.channel_name}: S3DataType {source.s3_data_type} is not supported yet")
    relatives: dict[tuple[str, str], str] = {}
    if source.s3_data_type == "ManifestFile":
        # The manifest lists keys relative to its prefix; each lands under that relative path.
        entries = await read_manifest(s3, source.s3_uri)
        objects: list[S3Object] = [S3Object(e.bucket, e.key, 0, "") for e in entries]
        relatives = {(e.bucket, e.key): e.relative for e in entries}
    else:
        bucket, prefix = parse_s3_uri(source.s3_uri)
        objects = [o async for o in s3.list_objects(bucket, prefix) if not o.key.endswith("/")]
        relatives = {(o.bucket, o.key): relative_key(prefix, o.key) for o in objects}
    if not objects:
        raise JobFailed(f"ClientError: No S3 objects found under S3 URL \"{source.s3_uri}\" given in input data "
                        f"source. Please ensure that the bucket exists in the selected region, that objects exist "
                        f"under that S3 prefix, and that the role has permissions to read them.")
    if shard is not None and source.s3_data_distribution_type == "ShardedByS3Key":
        index, count = shard
        objects = sorted(objects, key=lambda o: o.key)[index::count]
    return objects, relatives


async def download_channel(s3: S3Adapter, channel: Channel, dest_root: Path,
                           shard: tuple[int, int] | None = None) -> list[Path]:
    """Download every object of ``channel`` under ``dest_root``; return the files written.

    ``shard``: this host's share under ``ShardedByS3Key`` (see :func:`channel_objects`).
    """
    objects, relatives = await channel_objects(s3, channel, shard)
    dest_root.mkdir(parents=True, exist_ok=True)
    # Check every destination before writing anything.
    plan = [(o, safe_destination(dest_root, relatives[(o.bucket, o.key)])) for o in objects]
    sem = asyncio.Semaphore(_PARALLEL_DOWNLOADS)

    async def fetch(obj: S3Object, dest: Path) -> Path:
        async with sem:
            await s3.download_file(obj.bucket, obj.key, dest)
        return dest

    return list(await asyncio.gather(*(fetch(o, d) for o, d in plan)))
