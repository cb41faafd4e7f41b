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
from services.runners.warm_pool import TemplatePool
from services.training.executor import TrainingJobExecutor
from services.transform.executor import TransformJobExecutor
from services.tuning.executor import TuningJobExecutor
from services.tuning.intermediate import LogIntermediateSource

# How often a tuning job looks at its trials when no event wakes it: a safety net where this process runs the
# handlers (a trial's end wakes it at once), the pace itself where it does not.
TUNING_SWEEP_SECONDS = 15.0
STANDALONE_TUNING_SWEEP_SECONDS = 1.0


def warm_pool(settings: Settings) -> TemplatePool | None:
    """The node's warm templates under the process runner, sized by the settings; ``None`` under docker."""
    if settings.runner != "process":
        return None
    return TemplatePool(memory_mb=settings.warm_pool_memory_mb, idle_seconds=settings.warm_pool_idle_seconds)


def job_runner(settings: Settings, control_plane: str | None = None, pool: TemplatePool | None = None) -> Runner:
    """A runner of the configured kind whose containers get the job's AWS variables (not the node's), and
    with ``control_plane`` the node's SageMaker endpoint (see :func:`services.aws.session.job_aws_env`);
    ``pool``: the warm templates its hosts are forked from (process runner)."""
    return make_runner(settings.runner, env=job_aws_env(settings, control_plane), pool=pool)


def build_executors(services: Services, on_line: Callable[[str, str], None] | None = None,
                    control_plane: str | None = None, pool: TemplatePool | None = None,
                    tuning_sweep_seconds: float = TUNING_SWEEP_SECONDS) -> list[JobExecutor]:
    """One executor per job kind, each with a runner of the configured kind.

    ``on_line`` receives ``(job name, line)`` for every line a training
    container writes (the demo's live progress); ``control_plane`` is the
    SageMaker endpoint jobs' code calls; ``pool``: the node's warm templates, shared by the executors;
    ``tuning_sweep_seconds``: how often a tuning job looks at its trials when no event wakes it.
    """
    s = services.settings
    return [
        TrainingJobExecutor(s, services.training, services.s3, services.logs, job_runner(s, control_plane, pool),
                            on_line=on_line, cloudwatch=services.cloudwatch, credentials=services.credentials),
        ProcessingJobExecutor(s, services.processing, services.s3, services.logs, job_runner(s, control_plane, pool),
                              cloudwatch=services.cloudwatch, credentials=services.credentials),
        TuningJobExecutor(services.tuning, LogIntermediateSource(services.logs), sweep_seconds=tuning_sweep_seconds),
        TransformJobExecutor(s, services.transform, services.hosting.describe_model, services.s3, services.logs,
                             job_runner(s, control_plane, pool)),
    ]


def build_worker(services: Services, *, on_line: Callable[[str, str], None] | None = None,
                 emulator_embedded: bool = False, control_plane: str | None = None,
                 pool: TemplatePool | None = None, runs_handlers: bool = True) -> Worker:
    """A worker over the task and orchestration queues, running every job kind (their hosts forked from
    ``pool``'s warm templates where it has them). ``runs_handlers``: this process also runs the handlers,
    whose ``advance-tuning-on-trial`` wakes a tuning job when a trial ends; a worker without them (``headwater
    worker``) has its tuning jobs look at their trials every second instead."""
    sweep = TUNING_SWEEP_SECONDS if runs_handlers else STANDALONE_TUNING_SWEEP_SECONDS
    return Worker(services.settings, services.tasks, build_executors(services, on_line, control_plane, pool, sweep),
                  orchestration=services.orchestration, emulator_embedded=emulator_embedded,
                  outbox=services.outbox, events=services.events)
