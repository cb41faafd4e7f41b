"""``InputMode: FastFile``: a channel mounted through FUSE, its bytes read from S3 when read.

As SageMaker does, the container sees ``File`` in ``inputdataconfig.json``
and the very files File mode would download, at ``/opt/ml/input/data/<channel>``;
but nothing is copied before it starts. Each host's share of a FastFile
channel is mounted read-only at ``<host root>/input/data/<channel>`` by a
mount process of its own (:mod:`services.inputs.fastfile.mount`), and a read fetches
only the blocks it touches. The container runners show the mount: the
process runner directly or through a recursive bind (:mod:`services.runners.namespace`),
an engine through its recursive bind mount of the job tree.

The mounts end (``fusermount3 -u``, then the mount process is waited for by
its pid, and killed only if it does not exit) when the container ends, the
job fails or is stopped; each then reports the bytes it fetched, for the
job's log. Where FUSE cannot be used (no ``/dev/fuse``, no libfuse3, a mount
refused) the channel is downloaded as File, and the job's log says so.
"""

from __future__ import annotations

import asyncio
import ctypes.util
import functools
import importlib.util
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from services.aws.s3 import S3Adapter
from services.core.exceptions import JobFailed
from services.core.settings import Settings
from services.inputs.channels import channel_objects, download_channel
from services.inputs.fastfile.layout import FS_TYPE, FastFileEntry, FileTree, mount_path
from services.inputs.fastfile.process import FastFileMount, fusermount, mib
from services.inputs.models import Channel

log = logging.getLogger(__name__)

_PARALLEL_HEADS = 8


@functools.cache
def _fuse_unavailable() -> str | None:
    if not Path("/dev/fuse").exists():
        return "there is no /dev/fuse"
    if ctypes.util.find_library("fuse3") is None:
        return "libfuse3 is not installed (apt-get install fuse3)"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed (apt-get install fuse3)"
    if importlib.util.find_spec("mfusepy") is None:
        return "the mfusepy package is not installed"
    return None


def fuse_unavailable_reason() -> str | None:
    """Why FastFile cannot mount on this machine, or ``None`` when it can."""
    return _fuse_unavailable()


def mount_env(settings: Settings) -> dict[str, str]:
    """The mount process's environment: the worker's, with its endpoint and region as ``HEADWATER_*``."""
    env = dict(os.environ)
    env["HEADWATER_AWS_ENDPOINT"] = "aws" if settings.is_real_aws else (settings.endpoint_url or "")
    env["HEADWATER_REGION"] = settings.region
    env["FUSE_LIBRARY_NAME"] = "fuse3"  # mfusepy would take libfuse2 first where both are installed
    return env


async def channel_layout(s3: S3Adapter, channel: Channel, shard: tuple[int, int] | None) -> list[FastFileEntry]:
    """The files a mount of ``channel`` shows on the host ``shard`` names: File mode's paths, with sizes."""
    objects, relatives = await channel_objects(s3, channel, shard)
    entries = [FastFileEntry(mount_path(relatives[(o.bucket, o.key)]), o.bucket, o.key, o.size, o.etag)
               for o in objects]
    source = channel.data_source.s3_data_source
    if source is not None and source.s3_data_type == "ManifestFile":  # a manifest names keys, not sizes
        sem = asyncio.Semaphore(_PARALLEL_HEADS)

        async def sized(e: FastFileEntry) -> FastFileEntry:
            async with sem:
                found = await s3.head(e.bucket, e.key)
            if found is None:
                raise JobFailed(f"ClientError: Channel {channel.channel_name}: s3://{e.bucket}/{e.key}, named by "
                                f"manifest {source.s3_uri}, does not exist")
            return FastFileEntry(e.path, e.bucket, e.key, found.size, found.etag)

        entries = list(await asyncio.gather(*(sized(e) for e in entries)))
    FileTree(entries)  # refuses paths that collide, before anything is mounted
    return entries




@dataclass
class FastFileMounts:
    """Every FastFile mount of one host; unmounted when its container ends."""

    mounts: list[FastFileMount] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the job's log, when its container starts
    unmounted: bool = False

    @property
    def error(self) -> str | None:
        """The first failed read, for the job's FailureReason if the container then fails."""
        return next((m.error for m in self.mounts if m.error), None)

    async def mount(self, s3: S3Adapter, channels: list[Channel], root: Path, host: str, hosts: list[str],
                    env: dict[str, str]) -> None:
        """Mount ``channels`` (this host's share) under ``root/input/data``; a refused mount is downloaded."""
        shard = (hosts.index(host), len(hosts))
        for ch in channels:
            dest = root / "input/data" / ch.channel_name
            mount = FastFileMount(ch.channel_name, dest, await channel_layout(s3, ch, shard))
            self.mounts.append(mount)  # before it starts: a timeout still unmounts it
            refused = await mount.start(env)
            if refused is None:
                self.notes.append(f"FastFile channel {ch.channel_name}: mounted {len(mount.entries)} file(s) "
                                  f"({mib(mount.total)}); bytes are read from S3 when the container reads them")
                continue
            self.mounts.remove(mount)
            self.notes.append(f"FastFile channel {ch.channel_name}: {refused}; downloaded as File instead")
            await download_channel(s3, ch, dest, shard=shard)

    async def unmount(self) -> list[str]:
        """End every mount; the log lines of what each read (once: later calls return nothing)."""
        if self.unmounted:
            return []
        self.unmounted = True
        lines = []
        for mount in self.mounts:
            await mount.unmount()
            lines.append(mount.summary())
        return lines


async def mount_fast_files(s3: S3Adapter, channels: list[Channel], roots: dict[str, Path], settings: Settings,
                           into: dict[str, FastFileMounts]) -> None:
    """Mount a job's FastFile ``channels`` on every host (``roots``: host -> its tree), filling ``into``.

    ``into`` is the caller's, so mounts already live are known to it (and
    unmounted) if a later one fails the job. Where FUSE is unavailable the
    channels are downloaded, and each host's notes say why.
    """
    if not channels:
        return
    hosts = list(roots)
    unavailable = fuse_unavailable_reason()
    for host, root in roots.items():
        mounts = into.setdefault(host, FastFileMounts())
        if unavailable is None:
            await mounts.mount(s3, channels, root, host, hosts, mount_env(settings))
            continue
        for ch in channels:
            mounts.notes.append(f"FastFile channel {ch.channel_name}: FUSE is unavailable here ({unavailable}); "
                                f"downloaded as File instead")
            await download_channel(s3, ch, root / "input/data" / ch.channel_name,
                                   shard=(hosts.index(host), len(hosts)))


def _unescape(text: str) -> str:
    # /proc/self/mountinfo writes space, tab, newline and backslash as octal escapes (\040...).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def stale_mounts(root: Path, mountinfo: str) -> list[Path]:
    """FastFile mountpoints under ``root`` in a ``/proc/self/mountinfo`` text, deepest first."""
    found = []
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        fields = before.split()
        if len(fields) < 5 or not after.startswith(f"fuse.{FS_TYPE} "):
            continue
        point = Path(_unescape(fields[4]))
        if point.is_relative_to(root):
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


async def release_stale_mounts(root: Path) -> None:
    """Detach FastFile mounts a lost worker left under ``root`` (before its tree is removed)."""
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return
    for point in stale_mounts(root.resolve(), text):
        log.warning("detaching a FastFile mount left at %s", point)
        await fusermount("-u", "-z", point)
