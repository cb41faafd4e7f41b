"""What a handler may use: services, never clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.aws.s3 import S3Adapter
from services.core.settings import Settings
from services.core.times import utcnow
from services.experiments.service import ExperimentsService
from services.hosting.service import HostingService
from services.lineage.service import LineageService
from services.monitoring.service import MonitoringService
from services.pipelines.service import PipelineService
from services.processing.service import ProcessingService
from services.registry.service import ModelRegistryService
from services.retraining.service import RetrainingService
from services.training.service import TrainingService
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
    lineage: LineageService | None = None
    experiments: ExperimentsService | None = None
    pipelines: PipelineService | None = None
