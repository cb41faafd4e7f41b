"""The domain services the SageMaker control plane serves, as the operation modules see them.

The composition root's ``Services`` is one; the operation modules only name
what they call, so the API layer never imports the layer that wires it.
"""

from __future__ import annotations

from typing import Protocol

from services.core.tags import TagService
from services.experiments.service import ExperimentsService
from services.hosting.service import HostingService
from services.lineage.service import LineageService
from services.monitoring.service import MonitoringService
from services.pipelines.service import PipelineService
from services.processing.service import ProcessingService
from services.registry.service import ModelRegistryService
from services.training.service import TrainingService
from services.transform.service import TransformService
from services.tuning.service import TuningService


class SageMakerBackends(Protocol):
    """One service per area of the SageMaker API, and the tags of every resource."""

    training: TrainingService
    processing: ProcessingService
    tuning: TuningService
    transform: TransformService
    hosting: HostingService
    registry: ModelRegistryService
    monitoring: MonitoringService
    lineage: LineageService
    experiments: ExperimentsService
    tags: TagService
    pipelines: PipelineService | None
