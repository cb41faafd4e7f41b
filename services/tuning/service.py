"""The tuning job service: the domain logic behind the tuning API.

Creates tuning job documents (a name is used once), hands them to the
workers' orchestration queue, lists and describes them, stops them (and
their running children at once), and publishes "SageMaker HyperParameter
Tuning Job State Change" on every status change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.core.events import Publisher, event_detail
from services.core.exceptions import ResourceNotFound, ValidationException
from services.core.paging import page
from services.core.store import DocumentStore
from services.core.tags import TagAccess
from services.core.tasks import Task, TaskQueue
from services.core.times import utcnow
from services.runners.images import resolve_image
from services.training.metrics import definitions_for
from services.training.models import ResourceConfig
from services.training.service import TrainingService
from services.tuning import views
from services.tuning.models import CreateTuningJobRequest, Trial, TrialStatus, TuningJob, TuningJobStatus
from services.tuning.trials import trial_summary
from services.tuning.validation import check_request
from services.tuning.warm_start import parent_trials

log = logging.getLogger(__name__)

DETAIL_TYPE = "SageMaker HyperParameter Tuning Job State Change"
TASK_KIND = "tuning"
TUNING_OBJECTIVE_KEY = "_tuning_objective_metric"


class TuningService:
    """``CreateHyperParameterTuningJob`` and friends, over a store, a queue and a bus."""

    def __init__(self, store: DocumentStore[TuningJob], training: TrainingService, tasks: TaskQueue,
                 publisher: Publisher, *, region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.training = training
        self.tasks = tasks  # the orchestration queue
        self.publisher = publisher
        self.region = region
        self.account_id = account_id
        self.clock = clock

    def arn(self, name: str) -> str:
        """The tuning job's ARN (SageMaker lower-cases the name in ARNs)."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:hyper-parameter-tuning-job/{name.lower()}"

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
        await self.store.create(job.name, job)
        await self._publish(job)
        await self.tasks.enqueue(Task(kind=TASK_KIND, name=job.name))
        return job

    async def describe_tuning_job(self, name: str) -> TuningJob:
        """The tuning job, or :class:`ResourceNotFound`."""
        return await self.store.require(name)

    async def list_tuning_jobs(self, *, status_equals: str | None = None, name_contains: str | None = None,
                               creation_time_after: datetime | None = None,
                               creation_time_before: datetime | None = None,
                               last_modified_time_after: datetime | None = None,
                               last_modified_time_before: datetime | None = None,
                               sort_by: str = "CreationTime", sort_order: str = "Ascending",
                               max_results: int = 10, next_token: str | None = None
                               ) -> tuple[list[TuningJob], str | None]:
        """Filter, sort and page tuning jobs as ``ListHyperParameterTuningJobs`` does."""
        jobs = await self.store.list()
        checks: list[Callable[[TuningJob], bool]] = []
        if status_equals:
            checks.append(lambda j: j.status.value == status_equals)
        if name_contains:
            checks.append(lambda j: name_contains.lower() in j.name.lower())
        if creation_time_after:
            checks.append(lambda j: j.creation_time > creation_time_after)
        if creation_time_before:
            checks.append(lambda j: j.creation_time < creation_time_before)
        if last_modified_time_after:
            checks.append(lambda j: j.last_modified_time > last_modified_time_after)
        if last_modified_time_before:
            checks.append(lambda j: j.last_modified_time < last_modified_time_before)
        jobs = [j for j in jobs if all(c(j) for c in checks)]
        keys: dict[str, Callable[[TuningJob], Any]] = {
            "Name": lambda j: j.name,
            "CreationTime": lambda j: (j.creation_time, j.name),
            "Status": lambda j: (j.status.value, j.creation_time),
        }
        jobs.sort(key=keys[sort_by], reverse=sort_order == "Descending")
        return page(jobs, max_results, next_token)

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
        """Read the status of children still running (the orchestrator records it about every second)."""
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

        def mark(job: TuningJob) -> TuningJob | None:
            if job.status is TuningJobStatus.STOPPING:
                return None
            if job.status.is_terminal:
                raise ValidationException(f"The request was rejected because the hyperparameter tuning job is in "
                                          f"status {job.status.value}.")
            job.headwater.stop_requested = True
            job.hyper_parameter_tuning_job_status = TuningJobStatus.STOPPING
            job.last_modified_time = self.clock()
            return job

        before, after = await self.store.update(name, mark)
        if after is before:
            return
        await self._publish(after)
        for t in after.headwater.trials:
            if t.created and not t.status.is_terminal:
                try:
                    await self.training.stop_training_job(t.name)
                except (ValidationException, ResourceNotFound):
                    pass  # it finished meanwhile

    async def update(self, name: str, mutate: Callable[[TuningJob], TuningJob | None]) -> TuningJob:
        """Read-modify-write the job; publish when its status changed."""
        before, after = await self.store.update(name, mutate)
        if before.status != after.status:
            await self._publish(after)
        return after

    async def find(self, name: str) -> TuningJob:
        """The job by name, or by the lower-cased name an ARN carries."""
        job = await self.store.get(name)
        if job is None:
            job = next((j for j in await self.store.list() if j.name.lower() == name.lower()), None)
        if job is None:
            raise ResourceNotFound(f"Requested resource not found: Hyperparameter tuning job {name} does not exist")
        return job

    def tag_access(self) -> TagAccess:
        """How ``AddTags`` / ``ListTags`` / ``DeleteTags`` reach a tuning job's tags."""

        async def get(name: str) -> list[dict[str, str]]:
            return list((await self.find(name)).tags or [])

        async def update(name: str, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
            real = (await self.find(name)).name

            def mutate(job: TuningJob) -> TuningJob:
                job.tags = change(list(job.tags or []))
                return job

            await self.store.update(real, mutate)

        return TagAccess(get=get, update=update)

    async def _publish(self, job: TuningJob) -> None:
        # The store is the source of truth; a lost event is logged, not fatal.
        try:
            await self.publisher.publish(DETAIL_TYPE, event_detail(views.describe(job)),
                                         [job.hyper_parameter_tuning_job_arn])
        except Exception:  # noqa: BLE001 - any publish failure must not fail the job
            log.exception("could not publish state change of %s", job.name)

