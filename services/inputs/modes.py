"""Input modes of channels: how a channel's data reaches the container.

``File`` downloads before the container starts (:mod:`services.inputs.channels`);
``FastFile`` mounts the channel read-only through FUSE and fetches bytes from
S3 only when they are read (:mod:`services.inputs.fastfile`; the container
sees ``File`` in ``inputdataconfig.json`` and File mode's directory layout,
and where FUSE is unavailable the channel is downloaded as ``File``, said in
the job's log); ``Pipe`` streams through FIFOs (:mod:`services.inputs.pipe`).
"""

from __future__ import annotations

from services.inputs.models import Channel

PIPE = "Pipe"
FILE = "File"
FAST_FILE = "FastFile"
AUGMENTED = "AugmentedManifestFile"


def channel_mode(channel: Channel, job_mode: str | None) -> str:
    """The channel's own ``InputMode``, else the job's (``TrainingInputMode``), else ``File``."""
    return channel.input_mode or job_mode or FILE


def container_mode(mode: str) -> str:
    """What ``inputdataconfig.json`` says: ``FastFile`` reads as ``File`` to the container."""
    return FILE if mode == FAST_FILE else mode
