"""The job kinds a worker runs, built from the wired services.

``headwater up`` and ``headwater worker`` run the same executors: training,
processing and transform jobs on the task queue's slots, tuning jobs on the
orchestration queue's.
"""

from __future__ import annotations

from collections.abc import Callable

from infra.composition.services import Services
from services.aws.session import job_aws_env
from services.core.settings import Settings
from services.execution.executor import JobExecutor
from services.execution.worker import Worker
from services.processing.executor import ProcessingJobExecutor
from services.runners import Runner, make_runner
from services.training.executor import TrainingJobExecutor
from services.transform.executor import TransformJobExecutor
from services.tuning.executor import TuningJobExecutor
from services.tuning.intermediate import LogIntermediateSource


def job_runner(settings: Settings, control_plane: str | None = None) -> Runner:
    """A runner of the configured kind whose containers get the job's AWS variables (not the node's), and
    with ``control_plane`` the node's SageMaker endpoint (see :func:`services.aws.session.job_aws_env`)."""
    return make_runner(settings.runner, env=job_aws_env(settings, control_plane))


def build_executors(services: Services, on_line: Callable[[str, str], None] | None = None,
                    control_plane: str | None = None) -> list[JobExecutor]:
    """One executor per job kind, each with a runner of the configured kind.

    ``on_line`` receives ``(job name, line)`` for every line a training
    container writes (the demo's live progress); ``control_plane`` is the
    SageMaker endpoint jobs' code calls.
    """
    s = services.settings
    return [
        TrainingJobExecutor(s, services.training, services.s3, services.logs, job_runner(s, control_plane),
                            on_line=on_line, cloudwatch=services.cloudwatch, credentials=services.credentials),
        ProcessingJobExecutor(s, services.processing, services.s3, services.logs, job_runner(s, control_plane),
                              cloudwatch=services.cloudwatch, credentials=services.credentials),
        TuningJobExecutor(services.tuning, LogIntermediateSource(services.logs)),
        TransformJobExecutor(s, services.transform, services.hosting.describe_model, services.s3, services.logs,
                             job_runner(s, control_plane)),
    ]


def build_worker(services: Services, *, on_line: Callable[[str, str], None] | None = None,
                 emulator_embedded: bool = False, control_plane: str | None = None) -> Worker:
    """A worker over the task and orchestration queues, running every job kind."""
    return Worker(services.settings, services.tasks, build_executors(services, on_line, control_plane),
                  orchestration=services.orchestration, emulator_embedded=emulator_embedded,
                  outbox=services.outbox, events=services.events)
