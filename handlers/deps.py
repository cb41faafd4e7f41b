"""What a handler may use: services, never clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from infra.settings import Settings
from services.app import Services
from services.aws.s3 import S3Adapter
from services.models.base import utcnow
from services.hosting.service import HostingService
from services.monitoring.service import MonitoringService
from services.processing.service import ProcessingService
from services.registry import ModelRegistryService
from services.retraining.service import RetrainingService
from services.training import TrainingService
from services.transform.service import TransformService
from services.tuning.service import TuningService


@dataclass(frozen=True)
class Deps:
    """Injected into every ``handle(event, deps)`` call."""

    settings: Settings
    training: TrainingService
    s3: S3Adapter
    clock: Callable[[], datetime] = utcnow
    processing: ProcessingService | None = None
    tuning: TuningService | None = None
    registry: ModelRegistryService | None = None
    hosting: HostingService | None = None
    transform: TransformService | None = None
    monitoring: MonitoringService | None = None
    retraining: RetrainingService | None = None

    @classmethod
    def from_services(cls, services: Services) -> Deps:
        """The handler view of a wired :class:`Services`."""
        return cls(settings=services.settings, training=services.training, s3=services.s3,
                   clock=services.training.clock, processing=getattr(services, "processing", None),
                   tuning=getattr(services, "tuning", None), registry=getattr(services, "registry", None),
                   hosting=getattr(services, "hosting", None), transform=getattr(services, "transform", None),
                   monitoring=getattr(services, "monitoring", None),
                   retraining=getattr(services, "retraining", None))
