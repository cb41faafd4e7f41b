"""A host's Pipe-mode inputs: what each channel streams, and the FIFO feeds that stream it."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.core.exceptions import JobFailed
from services.inputs.channels import channel_objects
from services.inputs.models import Channel
from services.inputs.modes import AUGMENTED
from services.inputs.pipe.channels import ChannelStream
from services.inputs.pipe.feed import PipeFeed


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
