"""Wiring: the services built over one set of AWS clients.

The single place that constructs adapters, stores and services, so the
control plane, the handler runtime, the workers and the CLI share one
definition of how they fit together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from infra.settings import Settings
from services.autoscaling.service import AutoScalingService
from services.autoscaling.wiring import build_autoscaling
from services.aws.cloudwatch import CloudWatchAdapter
from services.aws.events import EventPublisher
from services.aws.logs import LogsAdapter
from services.aws.s3 import S3Adapter
from services.aws.session import AwsClients
from services.aws.sqs import SqsAdapter
from services.hosting.service import HostingService
from services.hosting.wiring import build_hosting
from services.models.base import utcnow
from services.models.registry import ModelPackage, ModelPackageGroup
from services.models.training import TrainingJob
from services.registry import ModelRegistryService
from services.store import DocumentStore, S3Backend
from services.tags import TagService
from services.models.tuning import TuningJob
from services.tasks import ORCHESTRATION_QUEUE, TASKS_QUEUE, TaskQueue
from services.processing.service import ProcessingService
from services.processing.wiring import build_processing
from services.training import TrainingService
from services.monitoring.service import MonitoringService
from services.monitoring.wiring import build_monitoring
from services.retraining.models import RetrainingPolicy, RetrainingRun
from services.retraining.service import RetrainingService
from services.transform.service import TransformService
from services.transform.wiring import build_transform
from services.tuning.service import TuningService


@dataclass
class Services:
    """Adapters and services sharing one set of clients."""

    settings: Settings
    s3: S3Adapter
    sqs: SqsAdapter
    logs: LogsAdapter
    events: EventPublisher
    tasks: TaskQueue
    training: TrainingService
    tags: TagService
    cloudwatch: CloudWatchAdapter
    registry: ModelRegistryService
    hosting: HostingService
    orchestration: TaskQueue
    tuning: TuningService
    # Fields with defaults stay last (a dataclass rule).
    processing: ProcessingService | None = None
    transform: TransformService | None = None
    monitoring: MonitoringService | None = None
    retraining: RetrainingService | None = None
    autoscaling: AutoScalingService | None = None


def build_services(settings: Settings, clients: AwsClients, clock: Callable[[], datetime] = utcnow) -> Services:
    """Construct every service over ``clients``."""
    s3 = S3Adapter(clients.s3)
    sqs = SqsAdapter(clients.sqs)
    publisher = EventPublisher(clients.events, settings.event_bus, settings.event_source)
    tasks = TaskQueue(sqs, settings.queue_name(TASKS_QUEUE), settings.dlq_name(TASKS_QUEUE))
    store = DocumentStore(S3Backend(s3, settings.system_bucket), "training-jobs", TrainingJob, "Training job")
    training = TrainingService(store, tasks, publisher, region=settings.region,
                               account_id=settings.account_id, clock=clock)
    tags = TagService()
    tags.register("training-job", training.tag_access())
    registry = ModelRegistryService(
        DocumentStore(S3Backend(s3, settings.system_bucket), "model-package-groups", ModelPackageGroup,
                      "Model package group"),
        DocumentStore(S3Backend(s3, settings.system_bucket), "model-packages", ModelPackage, "Model package"),
        publisher, training, region=settings.region, account_id=settings.account_id, clock=clock)
    tags.register("model-package-group", registry.tag_access("group"))
    tags.register("model-package", registry.tag_access("package"))
    hosting = build_hosting(settings, s3, publisher, tags, clock)
    orchestration = TaskQueue(sqs, settings.queue_name(ORCHESTRATION_QUEUE), settings.dlq_name(ORCHESTRATION_QUEUE))
    tuning = TuningService(
        DocumentStore(S3Backend(s3, settings.system_bucket), "tuning-jobs", TuningJob, "Hyperparameter tuning job"),
        training, orchestration, publisher, region=settings.region, account_id=settings.account_id, clock=clock)
    tags.register("hyper-parameter-tuning-job", tuning.tag_access())
    transform = build_transform(settings, s3, tasks, publisher, tags, hosting, clock)
    processing = build_processing(settings, s3, tasks, publisher, tags, clock)
    monitoring = build_monitoring(settings, s3, publisher, tags, processing, hosting, clock)
    autoscaling = build_autoscaling(settings, s3, hosting, clock)
    retraining = RetrainingService(
        DocumentStore(S3Backend(s3, settings.system_bucket), "retraining-policies", RetrainingPolicy,
                      "Retraining policy"),
        DocumentStore(S3Backend(s3, settings.system_bucket), "retraining-runs", RetrainingRun, "Retraining run"),
        publisher, clock=clock)
    return Services(processing=processing, transform=transform, monitoring=monitoring, retraining=retraining,
                    settings=settings, s3=s3, sqs=sqs, logs=LogsAdapter(clients.logs), events=publisher,
                    tasks=tasks, training=training, tags=tags,
                    cloudwatch=CloudWatchAdapter(clients.cloudwatch), registry=registry, hosting=hosting,
                    orchestration=orchestration, tuning=tuning, autoscaling=autoscaling)
