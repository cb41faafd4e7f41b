"""How a training job's channels reach its hosts: each channel's input mode, and its Pipe feeds.

A channel's own ``InputMode`` wins over the job's ``TrainingInputMode``;
File channels are downloaded with the host's tree (:mod:`services.training.hosts`),
FastFile channels mounted (:mod:`services.inputs.fastfile`), Pipe channels fed
through FIFOs once the container starts (:mod:`services.inputs.pipe`).
"""

from __future__ import annotations

from pathlib import Path

from services.aws.s3 import S3Adapter
from services.inputs.models import Channel
from services.inputs.modes import FAST_FILE, PIPE, channel_mode
from services.inputs.pipe.feed import PipeFeed
from services.inputs.pipe.feeds import PipeFeeds, channel_stream
from services.training.models import TrainingJob


def training_channel_mode(job: TrainingJob, channel: Channel) -> str:
    """The channel's own ``InputMode``, else the job's ``TrainingInputMode``."""
    return channel_mode(channel, job.algorithm_specification.training_input_mode)


def is_pipe(job: TrainingJob, channel: Channel) -> bool:
    """Whether ``channel`` streams through FIFOs."""
    return training_channel_mode(job, channel) == PIPE


def fast_file_channels(job: TrainingJob) -> list[Channel]:
    """The job's channels whose input mode is FastFile."""
    return [ch for ch in job.input_data_config or [] if training_channel_mode(job, ch) == FAST_FILE]


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
