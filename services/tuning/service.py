"""The tuning job service: the domain logic behind the tuning API.

Creates tuning job documents (a name is used once), hands them to the
workers' orchestration queue, lists and describes them, stops them (and
their running children at once), and publishes "SageMaker HyperParameter
Tuning Job State Change" on every status change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.core.events import Publisher
from services.core.exceptions import ResourceNotFound, ValidationException
from services.core.job_service import JobService
from services.core.paging import page
from services.core.store import DocumentStore
from services.core.task_outbox import TaskOutbox
from services.core.tasks import TaskQueue
from services.core.times import utcnow
from services.runners.images import resolve_image
from services.training.metrics import definitions_for
from services.training.models import ResourceConfig
from services.training.service import TrainingService
from services.tuning import views
from services.tuning.models import CreateTuningJobRequest, Trial, TrialStatus, TuningJob
from services.tuning.trials import trial_summary
from services.tuning.validation import check_request
from services.tuning.wakeups import Wakeups
from services.tuning.warm_start import parent_trials

DETAIL_TYPE = "SageMaker HyperParameter Tuning Job State Change"
TASK_KIND = "tuning"
TUNING_OBJECTIVE_KEY = "_tuning_objective_metric"


class TuningService(JobService[TuningJob]):
    """``CreateHyperParameterTuningJob`` and friends, over a store, a queue and a bus."""

    resource_type = "hyper-parameter-tuning-job"
    label = "hyperparameter tuning job"
    detail_type = DETAIL_TYPE
    task_kind = TASK_KIND

    def __init__(self, store: DocumentStore[TuningJob], training: TrainingService, tasks: TaskQueue,
                 publisher: Publisher, *, region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow, outbox: TaskOutbox | None = None) -> None:
        super().__init__(store, tasks, publisher, region=region, account_id=account_id, clock=clock, outbox=outbox)
        self.training = training  # the children's service; ``tasks`` is the orchestration queue
        self.wakeups = Wakeups()  # the orchestrations running in this process, woken by their trials' events

    async def create_tuning_job(self, request: CreateTuningJobRequest) -> TuningJob:
        """Record a new tuning job and enqueue its orchestration; :class:`ResourceInUse` if the name exists."""
        check_request(request)
        parents = await parent_trials(self.store.get, request)
        now = self.clock()
        job = TuningJob(**request.model_dump(by_alias=True, exclude_none=True),
                        HyperParameterTuningJobArn=self.arn(request.hyper_parameter_tuning_job_name),
                        CreationTime=now, LastModifiedTime=now)
        for d in job.definitions():
            # SageMaker records the objective among the static hyperparameters (the SDK's attach() expects it).
            d.static_hyper_parameters = {**(d.static_hyper_parameters or {}),
                                         TUNING_OBJECTIVE_KEY: job.objective(d.definition_name).metric_name}
            # Built-in algorithms bring their metric definitions; SageMaker lists them in Describe.
            spec = d.algorithm_specification
            image = resolve_image(spec.training_image or spec.algorithm_name or "")
            spec.metric_definitions = definitions_for(image.name if image else None, spec.metric_definitions)
            hpo = (d.model_extra or {}).get("HyperParameterTuningResourceConfig")
            if d.resource_config is None and isinstance(hpo, dict) and hpo.get("InstanceType"):
                # The SDK sends this form; Describe (and the SDK's attach()) also shows it as ResourceConfig.
                d.resource_config = ResourceConfig.model_validate(
                    {k: v for k, v in hpo.items() if k in ("InstanceType", "InstanceCount", "VolumeSizeInGB")})
        job.headwater.parent_trials = parents
        return await self.submit(job)

    async def describe_tuning_job(self, name: str) -> TuningJob:
        """The tuning job, or :class:`ResourceNotFound`."""
        return await self.store.require(name)

    async def list_training_jobs_for_tuning_job(
            self, name: str, *, status_equals: str | None = None, sort_by: str = "Name",
            sort_order: str = "Ascending", max_results: int = 10, next_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """``HyperParameterTrainingJobSummaries`` of the job's children, filtered, sorted and paged."""
        job = await self.describe_tuning_job(name)
        trials = [t for t in job.headwater.trials if t.created]
        await self._refresh_live(trials)
        if status_equals:
            trials = [t for t in trials if t.status.value == status_equals]
        def by_objective(t: Trial) -> tuple[int, float]:
            # Jobs without a value sort last, whatever the order.
            if t.objective is None:
                return (1, 0.0)
            return (0, t.objective if sort_order == "Ascending" else -t.objective)

        if sort_by == "FinalObjectiveMetricValue":
            trials.sort(key=by_objective)
        else:
            keys: dict[str, Callable[[Trial], Any]] = {
                "Name": lambda t: t.name,
                "CreationTime": lambda t: (t.creation_time or job.creation_time, t.index),
                "Status": lambda t: (t.status.value, t.index),
            }
            trials.sort(key=keys[sort_by], reverse=sort_order == "Descending")
        summaries = [trial_summary(t, job.name, job.objective(t.definition_name)) for t in trials]
        return page(summaries, max_results, next_token)

    async def _refresh_live(self, trials: list[Trial]) -> None:
        """Read the status of children still running (the orchestrator records it when it next runs a round)."""
        running = [t for t in trials if not t.status.is_terminal]
        children = await asyncio.gather(*(self.training.store.get(t.name) for t in running))
        for t, child in zip(running, children):
            if child is not None:
                t.status = TrialStatus(child.training_job_status.value)
                t.training_start_time = child.training_start_time or t.training_start_time
                t.training_end_time = child.training_end_time or t.training_end_time
                if t.status is TrialStatus.FAILED:
                    t.failure_reason = child.failure_reason

    async def stop_tuning_job(self, name: str) -> None:
        """Mark the job Stopping and stop its running children; the orchestrator finishes it as Stopped."""
        stopping = await self.request_stop(name)
        if stopping is None:
            return
        self.wakeups.wake(name)  # an orchestrator in this process finishes the job at once
        for t in stopping.headwater.trials:
            if t.created and not t.status.is_terminal:
                try:
                    await self.training.stop_training_job(t.name)
                except (ValidationException, ResourceNotFound):
                    pass  # it finished meanwhile

    async def update(self, name: str, mutate: Callable[[TuningJob], TuningJob | None]) -> TuningJob:
        """Read-modify-write the job; publish when its status changed."""
        return await self.modify(name, mutate)

    def describe(self, job: TuningJob) -> dict[str, Any]:
        """``DescribeHyperParameterTuningJob``, which is also the event's ``detail``."""
        return views.describe(job)
