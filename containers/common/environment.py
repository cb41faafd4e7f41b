"""Everything a training container learns about its job, read in one place.

SageMaker hands a container its job through files under ``/opt/ml/input``:
hyperparameters (string values, exactly as the CreateTrainingJob request
carried them), the channel configuration and the cluster's resource
configuration. ``Environment.read()`` loads them once, so an algorithm never
parses JSON or builds paths itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from containers.common import params
from containers.common.errors import CustomerError, PlatformError


@dataclass(frozen=True)
class ChannelConfig:
    """One channel's entry in ``inputdataconfig.json``."""

    name: str
    content_type: str | None = None
    training_input_mode: str = "File"
    compression_type: str = "None"
    record_wrapper_type: str = "None"
    s3_distribution_type: str = "FullyReplicated"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_gzip(self) -> bool:
        """Whether the channel's files are gzip-compressed."""
        return self.compression_type.lower() == "gzip"

    @property
    def is_pipe(self) -> bool:
        """Whether the channel streams through FIFOs (``<channel>_0``, ...) rather than files."""
        return self.training_input_mode.lower() == "pipe"

    @property
    def reads_gzip(self) -> bool:
        """Whether the container must decompress: in Pipe mode the platform already did."""
        return self.is_gzip and not self.is_pipe

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> ChannelConfig:
        """Build a channel config from its ``inputdataconfig.json`` object."""
        return cls(
            name=name,
            content_type=data.get("ContentType") or None,
            training_input_mode=data.get("TrainingInputMode") or "File",
            compression_type=data.get("CompressionType") or "None",
            record_wrapper_type=data.get("RecordWrapperType") or "None",
            s3_distribution_type=data.get("S3DistributionType") or "FullyReplicated",
            raw=dict(data),
        )


def _read_json(path: Path, default: Any) -> Any:
    """Read a config file, or ``default`` when the platform did not write it."""
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        # The platform writes these files; a broken one is not the user's fault.
        raise PlatformError(f"Cannot read {path.name}: {exc}") from exc


def _cpu_count() -> int:
    """CPUs this job may use: the platform's ``SM_NUM_CPUS`` share when set (several
    jobs can share one machine), else what the affinity mask allows."""
    try:
        available = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        available = max(1, os.cpu_count() or 1)
    try:
        share = int(os.environ.get("SM_NUM_CPUS", ""))
    except ValueError:
        return available
    return max(1, min(share, available))


@dataclass(frozen=True)
class Environment:
    """The training job as seen from inside the container."""

    hyperparameters: dict[str, str]
    channels: dict[str, ChannelConfig]
    current_host: str
    hosts: list[str]
    num_cpus: int
    base_dir: Path

    @classmethod
    def read(cls) -> Environment:
        """Load the job's configuration from ``<base>/input/config``."""
        raw_hps = _read_json(params.hyperparameters_path(), {})
        if not isinstance(raw_hps, dict):
            raise PlatformError("hyperparameters.json must hold a JSON object")
        # SageMaker passes every value as a string; normalise stray non-strings
        # (a hand-written file) the same way so parsers see one type.
        hps = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw_hps.items()}
        raw_channels = _read_json(params.input_data_config_path(), {})
        if not isinstance(raw_channels, dict):
            raise PlatformError("inputdataconfig.json must hold a JSON object")
        channels = {name: ChannelConfig.from_json(name, cfg or {}) for name, cfg in raw_channels.items()}
        resources = _read_json(params.resource_config_path(), {})
        current_host = resources.get("current_host") or params.DEFAULT_HOST
        hosts = list(resources.get("hosts") or [current_host])
        return cls(
            hyperparameters=hps,
            channels=channels,
            current_host=current_host,
            hosts=hosts,
            num_cpus=_cpu_count(),
            base_dir=params.base_dir(),
        )

    @property
    def is_master(self) -> bool:
        """Whether this host is the first (lexically smallest) host, as SageMaker's toolkits define it."""
        return self.current_host == sorted(self.hosts)[0]

    def channel_dir(self, name: str) -> Path:
        """Directory holding the files of channel ``name``."""
        return params.channel_dir(name)

    def require_channel(self, name: str) -> ChannelConfig:
        """Return channel ``name``'s config, or raise a ``CustomerError`` if absent."""
        if name not in self.channels:
            given = ", ".join(sorted(self.channels)) or "none"
            raise CustomerError(f"Channel '{name}' is required but was not provided (channels given: {given}).")
        return self.channels[name]

    @property
    def model_dir(self) -> Path:
        """Where the algorithm writes its model artifacts."""
        return params.model_dir()

    @property
    def output_data_dir(self) -> Path:
        """Where the algorithm writes extra outputs (``output.tar.gz``)."""
        return params.output_data_dir()

    @property
    def checkpoint_dir(self) -> Path:
        """Where the algorithm may write and resume checkpoints."""
        return params.checkpoint_dir()

    @property
    def failure_path(self) -> Path:
        """The file whose text becomes the job's FailureReason."""
        return params.failure_path()

    @property
    def job_name(self) -> str | None:
        """The training job's name, when the platform exported it."""
        return os.environ.get(params.TRAINING_JOB_NAME_ENV) or None
