"""Wiring: the services built over one set of AWS clients.

The single place that constructs adapters, stores and services, so the
control plane, the handler runtime, the workers and the CLI share one
definition of how they fit together. Each service gets its collections in
the system bucket and registers how ``AddTags`` reaches its resources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.api.sagemaker_ops import build_sagemaker_service
from services.api.server import AwsJsonService
from services.autoscaling.models import ActivityLog, ScalableTarget, ScalingPolicy
from services.autoscaling.service import AutoScalingService
from services.aws.cloudwatch import CloudWatchAdapter
from services.aws.events import EventPublisher
from services.aws.logs import LogsAdapter
from services.aws.s3 import S3Adapter
from services.aws.s3_documents import S3Backend
from services.aws.session import AwsClients
from services.aws.sqs import SqsAdapter
from services.aws.sts import JobCredentials
from services.core.event_outbox import EventOutbox, PendingEvent
from services.core.job_service import job_summary
from services.core.settings import Settings
from services.core.store import DocumentStore
from services.core.store_index import Summary
from services.core.tags import TagService
from services.core.task_outbox import PendingTask, TaskOutbox
from services.core.tasks import ORCHESTRATION_QUEUE, TASKS_QUEUE, TaskQueue
from services.core.times import utcnow
from services.experiments.models import Experiment, Trial, TrialComponent
from services.experiments.service import ExperimentsService
from services.hosting.models import Endpoint, EndpointConfig, Model
from services.hosting.service import HostingService
from services.lineage.graph import Describer, job_component_type
from services.lineage.models import LineageType, Vertex
from services.lineage.service import LineageService
from services.lineage.stores import LineageStores
from services.monitoring.models import JobDefinition, MonitoringExecution, MonitoringSchedule
from services.monitoring.service import MonitoringService
from services.pipelines.engine import ExecutionEngine, s3_json_reader
from services.pipelines.models import Pipeline, PipelineExecution
from services.pipelines.service import PipelineService
from services.processing.models import ProcessingJob
from services.processing.service import ProcessingService
from services.registry.models import ModelPackage, ModelPackageGroup
from services.registry.service import ModelRegistryService
from services.retraining.models import RetrainingPolicy, RetrainingRun
from services.retraining.service import RetrainingService
from services.training.models import TrainingJob
from services.training.service import TrainingService
from services.transform.models import TransformJob
from services.transform.service import TransformService
from services.tuning.models import TuningJob
from services.tuning.service import TuningService


@dataclass
class Services:
    """Adapters and services sharing one set of clients."""

    settings: Settings
    s3: S3Adapter
    sqs: SqsAdapter
    logs: LogsAdapter
    events: EventOutbox
    cloudwatch: CloudWatchAdapter
    credentials: JobCredentials
    tasks: TaskQueue
    orchestration: TaskQueue
    outbox: TaskOutbox
    tags: TagService
    training: TrainingService
    processing: ProcessingService
    tuning: TuningService
    transform: TransformService
    registry: ModelRegistryService
    hosting: HostingService
    monitoring: MonitoringService
    autoscaling: AutoScalingService
    retraining: RetrainingService
    lineage: LineageService
    experiments: ExperimentsService
    pipelines: PipelineService | None = None


def trial_component_vertex(experiments: ExperimentsService) -> Describer:
    """Lineage's view of the trial components Experiments keeps (the two domains do not import each other)."""
    async def describe(arn: str) -> Vertex | None:
        name = arn.rsplit("/", 1)[-1]
        found = await experiments.components.get(name.lower())
        if found is None:
            return None
        return Vertex(arn=arn, lineage_type=LineageType.TRIAL_COMPONENT,
                      type=job_component_type(name), creation_time=found.creation_time,
                      last_modified_time=found.last_modified_time)
    return describe


def build_services(settings: Settings, clients: AwsClients, clock: Callable[[], datetime] = utcnow) -> Services:
    """Construct every service over ``clients``."""
    s3 = S3Adapter(clients.s3)
    sqs = SqsAdapter(clients.sqs)
    backend = S3Backend(s3, settings.system_bucket)

    def store(collection: str, model: type[BaseModel], kind: str,
              summarize: Callable[[Any], Summary] | None = None) -> DocumentStore[Any]:
        return DocumentStore(backend, collection, model, kind, summarize)

    # Every state change's event is recorded until the bus has it (at least once): see EventOutbox.
    publisher = EventOutbox(EventPublisher(clients.events, settings.event_bus, settings.event_source),
                            store("event-outbox", PendingEvent, "Pending event"), clock)
    tasks = TaskQueue(sqs, settings.queue_name(TASKS_QUEUE), settings.dlq_name(TASKS_QUEUE))
    orchestration = TaskQueue(sqs, settings.queue_name(ORCHESTRATION_QUEUE), settings.dlq_name(ORCHESTRATION_QUEUE))
    outbox = TaskOutbox(store("task-outbox", PendingTask, "Pending task"), clock)
    where = {"region": settings.region, "account_id": settings.account_id, "clock": clock}
    jobs = {**where, "outbox": outbox}
    tags = TagService()

    training = TrainingService(store("training-jobs", TrainingJob, "Training job", TrainingService.summary), tasks, publisher, **jobs)
    tags.register("training-job", training.tag_access())
    processing = ProcessingService(store("processing-jobs", ProcessingJob, "Processing job", job_summary), tasks, publisher,
                                   **jobs)
    tags.register("processing-job", processing.tag_access())
    tuning = TuningService(store("tuning-jobs", TuningJob, "Hyperparameter tuning job", job_summary), training, orchestration,
                           publisher, **jobs)
    tags.register("hyper-parameter-tuning-job", tuning.tag_access())
    registry = ModelRegistryService(store("model-package-groups", ModelPackageGroup, "Model package group"),
                                    store("model-packages", ModelPackage, "Model package"), publisher,
                                    training.find_generator, **where)
    tags.register("model-package-group", registry.tag_access("group"))
    tags.register("model-package", registry.tag_access("package"))

    async def describe_model_package(name: str) -> dict[str, Any]:
        return (await registry.describe_model_package(name)).describe()

    hosting = HostingService(store("models", Model, "Model"),
                             store("endpoint-configs", EndpointConfig, "Endpoint config"),
                             store("endpoints", Endpoint, "Endpoint"), publisher,
                             model_packages=describe_model_package, **where)
    tags.register("model", hosting.tag_access(hosting.models, "Model"))
    tags.register("endpoint-config", hosting.tag_access(hosting.configs, "Endpoint config"))
    tags.register("endpoint", hosting.tag_access(hosting.endpoints, "Endpoint"))
    transform = TransformService(store("transform-jobs", TransformJob, "Transform job", job_summary), tasks, publisher,
                                 hosting.model_exists, **jobs)
    tags.register("transform-job", transform.tag_access())
    monitoring = MonitoringService(
        store("monitoring-job-definitions", JobDefinition, "Job definition"),
        store("monitoring-schedules", MonitoringSchedule, "Monitoring schedule"),
        store("monitoring-executions", MonitoringExecution, "Monitoring execution"),
        processing, hosting, s3, publisher, **where)
    tags.register("monitoring-schedule", monitoring.tag_access())
    autoscaling = AutoScalingService(store("autoscaling-targets", ScalableTarget, "Scalable target"),
                                     store("autoscaling-policies", ScalingPolicy, "Scaling policy"),
                                     store("autoscaling-activities", ActivityLog, "Scaling activity log"),
                                     hosting, **where)
    lineage = LineageService(LineageStores.build(store), **where)
    for kind in ("artifact", "action", "context"):
        tags.register(kind, lineage.tag_access(kind))
    experiments = ExperimentsService(store("experiments", Experiment, "Experiment"),
                                     store("experiment-trials", Trial, "Trial"),
                                     store("experiment-trial-components", TrialComponent, "Trial component"),
                                     **where)
    for kind in ("experiment", "experiment-trial", "experiment-trial-component"):
        tags.register(kind, experiments.tag_access(kind))
    lineage.graph.register_kind("experiment-trial-component", trial_component_vertex(experiments))
    retraining = RetrainingService(store("retraining-policies", RetrainingPolicy, "Retraining policy"),
                                   store("retraining-runs", RetrainingRun, "Retraining run"), publisher, clock=clock)
    # A pipeline's steps go through the SageMaker control plane itself (the checks and Describe* shapes a
    # user's request meets), which serves the pipelines too: it is bound once both exist.
    control_plane: list[AwsJsonService] = []

    async def invoke(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return await control_plane[0].invoke(operation, params)  # type: ignore[no-any-return]

    async def send_message(queue_url: str, body: str) -> None:  # a Callback step's, to the user's queue
        await sqs.client.send_message(QueueUrl=queue_url, MessageBody=body)

    engine = ExecutionEngine(store("pipeline-executions", PipelineExecution, "Pipeline execution",
                                   PipelineExecution.index_summary), invoke,
                             s3_json_reader(s3), publisher, clock=clock, send_message=send_message)
    pipelines = PipelineService(store("pipelines", Pipeline, "Pipeline"), engine.executions, engine, s3, publisher,
                                **where)
    tags.register("pipeline", pipelines.tag_access())
    built = Services(settings=settings, s3=s3, sqs=sqs, logs=LogsAdapter(clients.logs), events=publisher,
                     cloudwatch=CloudWatchAdapter(clients.cloudwatch), credentials=JobCredentials(clients.sts),
                     tasks=tasks, orchestration=orchestration, outbox=outbox,
                     tags=tags, training=training, processing=processing, tuning=tuning, transform=transform,
                     registry=registry, hosting=hosting, monitoring=monitoring, autoscaling=autoscaling,
                     retraining=retraining, lineage=lineage, experiments=experiments,
                     pipelines=pipelines)
    control_plane.append(build_sagemaker_service(built))
    return built
