"""What the retraining steps use: the services of a handler's deps, by name.

The handlers that drive a retraining run pass their own deps; the steps name
only what they call, so this domain never imports the handler layer above it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from services.aws.s3 import S3Adapter
from services.core.settings import Settings
from services.hosting.service import HostingService
from services.monitoring.service import MonitoringService
from services.processing.service import ProcessingService
from services.registry.service import ModelRegistryService
from services.retraining.service import RetrainingService
from services.training.service import TrainingService
from services.transform.service import TransformService


class RetrainingDeps(Protocol):
    """The services a retraining step reaches (``handlers.deps.Deps`` is one)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def s3(self) -> S3Adapter: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    @property
    def training(self) -> TrainingService: ...

    @property
    def transform(self) -> TransformService | None: ...

    @property
    def hosting(self) -> HostingService | None: ...

    @property
    def registry(self) -> ModelRegistryService | None: ...

    @property
    def processing(self) -> ProcessingService | None: ...

    @property
    def monitoring(self) -> MonitoringService | None: ...

    @property
    def retraining(self) -> RetrainingService | None: ...
