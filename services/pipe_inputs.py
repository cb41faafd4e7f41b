"""Input modes of training channels and processing inputs, and a host's Pipe feeds.

``File`` downloads before the container starts; ``FastFile`` mounts the
channel read-only through FUSE and fetches bytes from S3 only when they are
read (:mod:`services.fast_file`; the container sees ``File`` in
``inputdataconfig.json`` and File mode's directory layout, and where FUSE is
unavailable the channel is downloaded as ``File``, said in the job's log);
``Pipe`` streams through FIFOs (:mod:`services.pipe_feed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.channels import channel_objects
from services.exceptions import JobFailed
from services.models.training import Channel, TrainingJob
from services.pipe_channels import ChannelStream
from services.pipe_feed import PipeFeed

PIPE = "Pipe"
FILE = "File"
FAST_FILE = "FastFile"
AUGMENTED = "AugmentedManifestFile"


def channel_mode(job: TrainingJob, channel: Channel) -> str:
    """The channel's own ``InputMode``, else the job's ``TrainingInputMode``."""
    return channel.input_mode or job.algorithm_specification.training_input_mode or FILE


def container_mode(mode: str) -> str:
    """What ``inputdataconfig.json`` says: ``FastFile`` reads as ``File`` to the container."""
    return FILE if mode == FAST_FILE else mode


def is_pipe(job: TrainingJob, channel: Channel) -> bool:
    """Whether ``channel`` streams through FIFOs."""
    return channel_mode(job, channel) == PIPE


async def channel_stream(s3: S3Adapter, channel: Channel, shard: tuple[int, int] | None) -> ChannelStream:
    """What ``channel`` streams each epoch on the host ``shard`` names (objects listed now)."""
    source = channel.data_source.s3_data_source
    if source is None:
        raise JobFailed(f"Channel {channel.channel_name}: only S3DataSource is supported")
    sharded = shard if source.s3_data_distribution_type == "ShardedByS3Key" else None
    stream = ChannelStream(s3=s3, channel=channel.channel_name,
                           gzip=(channel.compression_type or "None").lower() == "gzip",
                           wrap=(channel.record_wrapper_type or "None") == "RecordIO", shard=sharded)
    if source.s3_data_type == AUGMENTED:
        if await s3.head(*parse_s3_uri(source.s3_uri)) is None:
            raise JobFailed(f"ClientError: Augmented manifest file {source.s3_uri} does not exist")
        stream.manifest_uri = source.s3_uri
        stream.attributes = list(source.attribute_names or [])
    else:
        stream.objects, _ = await channel_objects(s3, channel, shard)
    return stream


@dataclass
class PipeFeeds:
    """Every Pipe feed of one host; started with its container, closed when it ends."""

    feeds: list[PipeFeed] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        """The first feed failure, the job's FailureReason."""
        return next((f.error for f in self.feeds if f.error), None)

    def start(self) -> None:
        """Start serving every FIFO."""
        for feed in self.feeds:
            feed.start()

    async def close(self) -> None:
        """End every writer and remove the FIFOs."""
        for feed in self.feeds:
            await feed.close()


async def plan_training_pipes(s3: S3Adapter, job: TrainingJob, root: Path, host: str,
                              hosts: list[str]) -> PipeFeeds:
    """A host's feeds: ``<root>/input/data/<channel>_0`` made for every Pipe channel."""
    shard = (hosts.index(host), len(hosts))
    feeds = PipeFeeds()
    for ch in job.input_data_config or []:
        if is_pipe(job, ch):
            stream = await channel_stream(s3, ch, shard)
            feeds.feeds.append(PipeFeed(root / "input/data", ch.channel_name, stream.chunks))
    return feeds
