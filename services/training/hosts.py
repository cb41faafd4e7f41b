"""The hosts of one training job attempt: ``algo-1`` ... ``algo-N``.

Each host is its own process (or container) with its own ``/opt/ml`` tree
(``<jobs>/<job>/algo-i``), its own ``resourceconfig.json`` naming it as
``current_host``, its own log stream and metrics, and a loopback address and
port Headwater assigns so the hosts can reach each other
(``HEADWATER_HOST_ADDRESSES``; see ``containers/common/cluster.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.aws.logs import LogsAdapter, escape_control
from services.aws.s3 import S3Adapter
from services.execution.job_trees import clear_tree
from services.execution.log_shipper import TRAINING_LOG_GROUP, LogShipper
from services.execution.s3_sync import CheckpointSync, SyncFailure
from services.inputs.channels import download_channel
from services.inputs.fastfile.mounts import FastFileMounts, release_stale_mounts
from services.inputs.pipe.feeds import PipeFeeds
from services.inputs.source_code import fetch_source
from services.runners.base import RunningContainer
from services.training.checkpoints import local_dir, restore
from services.training.env import prepare_tree, write_config
from services.training.inputs import is_pipe
from services.training.metrics import MetricsCollector
from services.training.models import TrainingJob

ADDRESSES_ENV = "HEADWATER_HOST_ADDRESSES"
LOOPBACK = "127.0.0.1"


def _own_loopback_address(port: int, taken: set[str]) -> str:
    """A loopback address other than 127.0.0.1 (Linux answers on all of 127.0.0.0/8) on which ``port`` is
    free: chosen at random, so jobs running side by side get different ones."""
    for _ in range(64):
        address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
        if address in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, port))
            except OSError:
                continue
        return address
    raise OSError(f"no loopback address with port {port} free")


def assign_addresses(hosts: list[str], own_port: int | None = None) -> dict[str, str]:
    """A free loopback port per host (``{"algo-1": "127.0.0.1:PORT"}``).

    With ``own_port``, each host gets a loopback address of its own on which that port is free too (an SSH
    server on port 22 per host: MPI), instead of sharing 127.0.0.1.
    """
    out: dict[str, str] = {}
    socks = []
    try:
        for host in hosts:  # all held open at once, so no two hosts get the same port
            address = LOOPBACK if own_port is None else _own_loopback_address(own_port, {
                a.rpartition(":")[0] for a in out.values()})
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((address, 0))
            socks.append(s)
            out[host] = f"{address}:{s.getsockname()[1]}"
    finally:
        for s in socks:
            s.close()
    return out


async def prepare_host(s3: S3Adapter, job: TrainingJob, root: Path, host: str, hosts: list[str],
                       lazy: frozenset[str] = frozenset()) -> int:
    """A clean tree for ``host``: config, its share of every channel, code, checkpoints.

    Channels named in ``lazy`` (FastFile, mounted afterwards) are not downloaded.
    Returns the number of checkpoint files restored.
    """
    if root.exists():  # a restarted attempt starts from a clean tree
        await release_stale_mounts(root)  # a lost worker's mounts would refuse removal
        await asyncio.to_thread(clear_tree, root)
    prepare_tree(root)
    write_config(root, job, host, hosts)
    shard = (hosts.index(host), len(hosts))
    for ch in job.input_data_config or []:
        if is_pipe(job, ch) or ch.channel_name in lazy:  # streamed or mounted once the tree is ready
            continue
        await download_channel(s3, ch, root / "input/data" / ch.channel_name, shard=shard)
    await fetch_source(s3, job.hyper_parameters, root / "code")
    if job.checkpoint_config is not None:
        return await restore(s3, job.checkpoint_config, local_dir(root, job.checkpoint_config))
    return 0


@dataclass
class HostRun:
    """One host's running container, its log, metrics and checkpoint sync."""

    host: str
    root: Path
    shipper: LogShipper
    collector: MetricsCollector
    container: RunningContainer | None = None
    sync: CheckpointSync | None = None
    code: int | None = None
    waiter: asyncio.Task[int] | None = None
    stopped_by_platform: bool = False  # its exit code is ours (a stop), not the host's own failure
    pipes: PipeFeeds = field(default_factory=PipeFeeds)  # its Pipe-mode channels' FIFO writers
    fast_files: FastFileMounts = field(default_factory=FastFileMounts)  # its FastFile channels' mounts
    started: float = field(default_factory=time.monotonic)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _sync_task: asyncio.Task[None] | None = None
    _sync_done: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def create(cls, logs: LogsAdapter, job_name: str, root: Path, host: str, collector: MetricsCollector,
               stamp: int) -> HostRun:
        """A host run whose log goes to stream ``<job>/<host>-<stamp>`` and ``<host>.log``."""
        shipper = LogShipper(logs, TRAINING_LOG_GROUP, f"{job_name}/{host}-{stamp}", root.parent / f"{host}.log")
        return cls(host=host, root=root, shipper=shipper, collector=collector)

    def begin(self, container: RunningContainer, on_line, clock, s3: S3Adapter | None,  # noqa: ANN001
              job: TrainingJob) -> None:
        """Start pumping the container's lines (and syncing checkpoints)."""
        self.container = container
        self.started = time.monotonic()
        self.waiter = asyncio.create_task(container.wait())  # one wait per container: the engine's removes it

        async def pump() -> None:
            shown = 0
            async for line in container.lines():
                self.shipper.add(line)
                await self.collector.observe(escape_control(line), clock())
                for note in self.collector.notes[shown:]:  # a metric definition turned off, and why
                    self.shipper.add(f"Headwater: {note}")
                shown = len(self.collector.notes)
                if on_line:
                    on_line(line)

        self._tasks.append(asyncio.create_task(pump()))
        if s3 is not None and job.checkpoint_config is not None:
            self.sync = CheckpointSync(s3, job.checkpoint_config.s3_uri, local_dir(self.root, job.checkpoint_config))
            self.sync.mark_restored()
            self._sync_task = asyncio.create_task(self.sync.run(self._sync_done))

    @property
    def sync_failure(self) -> SyncFailure | None:
        """What the last checkpoint sync could not upload (the job fails with it), if anything."""
        return self.sync.final_failure if self.sync is not None else None

    async def finish(self) -> None:
        """Drain the log and run the last checkpoint sync (after the container exited)."""
        self._sync_done.set()
        await self.pipes.close()  # no FIFO writer outlives its container
        for line in await self.fast_files.unmount():  # nor a mount; the log says what each one read
            self.shipper.add(f"Headwater: {line}")
        if self._tasks:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), timeout=30)
        if self._sync_task is not None:
            # Not cut short like the log pump: the last checkpoints take as long as their upload takes.
            await self._sync_task
        if self.sync_failure is not None:
            self.shipper.add(f"Headwater: the final checkpoint upload failed: {self.sync_failure}")

    async def abandon(self, grace: float) -> None:
        """End a run cut short: stop its container, drop its log pump and checkpoint sync without a last
        sync (the attempt no longer owns the job's checkpoints), close its FIFOs and unmount its channels."""
        await self.stop(grace)
        tasks = self._tasks + ([self._sync_task] if self._sync_task is not None else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.pipes.close()
        for line in await self.fast_files.unmount():
            self.shipper.add(f"Headwater: {line}")

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.container is None or self.waiter is None or self.waiter.done():
            return
        self.stopped_by_platform = True
        await self.container.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(self.waiter), timeout=grace)
        except asyncio.TimeoutError:
            await self.container.kill()
            await self.waiter


def addresses_env(addresses: dict[str, str]) -> dict[str, str]:
    """The variable that tells every host where the others listen."""
    return {ADDRESSES_ENV: json.dumps(addresses)} if addresses else {}
