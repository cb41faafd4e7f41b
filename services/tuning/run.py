"""One orchestrator's run of one tuning job: the loop behind the ``tuning`` job kind.

Each round creates the children recorded but not yet created, reads each
running child's status and intermediate objective values, stops weak
children (the median rule, or Hyperband's rungs), retries children the
platform failed, decides whether the job is done (limits, completion
criteria, a stop request), and launches new trials up to
``MaxParallelTrainingJobs``. A round runs when a trial's state-change event
or a stop request wakes the run (:mod:`services.tuning.wakeups`), about
every second while early stopping needs running children's intermediate
values, and otherwise on a slow safety sweep. A trial is recorded on the
tuning job's document before its child is created, under a name derived
from it, so a run that takes over after a worker died resumes from the
record and never runs a trial twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from services.core.exceptions import ResourceInUse, ResourceNotFound, ValidationException
from services.execution.executor import HandedBack
from services.tuning.children import child_request
from services.tuning.decisions import Decider
from services.tuning.hyperband import HyperbandSchedule
from services.tuning.intermediate import IntermediateSource
from services.tuning.launcher import TrialLauncher
from services.tuning.models import Strategy, Trial, TrialStatus, TuningJob, TuningJobStatus
from services.tuning.service import TuningService
from services.tuning.trials import objective_status, refresh_from_child
from services.tuning.validation import hyperband_resources

log = logging.getLogger(__name__)


class OrchestrationInterrupted(HandedBack):
    """The worker is shutting down: the task goes back to the queue and another worker resumes it."""


@dataclass(frozen=True)
class Finish:
    """Why a tuning job ends, and whether its running children are stopped for it."""

    status: TuningJobStatus
    reason: str | None = None
    stop_children: bool = True


async def finish_job(tuning: TuningService, name: str, finish: Finish, trials: list[Trial],
                     not_improving: int | None = None) -> TuningJob:
    """Move the job to its terminal status with its final trials."""

    def mutate(j: TuningJob) -> TuningJob | None:
        if j.status.is_terminal:
            return None
        now = tuning.clock()
        j.headwater.trials = [t.model_copy(deep=True) for t in trials]
        j.hyper_parameter_tuning_job_status = finish.status
        j.hyper_parameter_tuning_end_time = now
        j.last_modified_time = now
        j.consumed_resources = {"RuntimeInSeconds": max(0, int((now - j.creation_time).total_seconds()))}
        if finish.status is TuningJobStatus.FAILED:
            j.failure_reason = (finish.reason or "")[:1024]
        if not_improving is not None:
            j.tuning_job_completion_details = {"NumberOfTrainingJobsObjectiveNotImproving": not_improving}
        return j

    return await tuning.update(name, mutate)


class Orchestrator(Protocol):
    """What a run needs of the executor that runs it (:class:`services.tuning.executor.TuningJobExecutor`)."""

    tuning: TuningService
    intermediate: IntermediateSource
    poll_seconds: float  # between rounds while early stopping reads running children's intermediate values
    sweep_seconds: float  # between rounds otherwise, when no event wakes the run
    save_curves_every: float
    closing: asyncio.Event  # set when the worker stops: the run hands its task back


class TuningRun:
    """One orchestrator's run of one tuning job."""

    def __init__(self, executor: Orchestrator, job: TuningJob) -> None:
        self.ex = executor
        self.tuning = executor.tuning
        self.training = executor.tuning.training
        self.job = job
        self.name = job.name
        self.trials = [t.model_copy(deep=True) for t in job.headwater.trials]
        config = job.hyper_parameter_tuning_job_config
        self.config = config
        schedule = None
        if config.strategy is Strategy.HYPERBAND:
            schedule = HyperbandSchedule(*hyperband_resources(job))  # type: ignore[misc]
        self.decider = Decider(job, schedule, config.training_job_early_stopping_type == "Auto")
        self.launcher = TrialLauncher(job, self.decider.bracket_of)
        self.definitions = self.launcher.definitions
        self.max_parallel = config.resource_limits.max_parallel_training_jobs
        self._status_dirty = False
        self._curves_dirty = False
        self._last_save = time.monotonic()

    # --- the loop -----------------------------------------------------------------

    async def run(self) -> None:
        with self.tuning.wakeups.listen(self.name) as woken:
            await self._rounds(woken)

    async def _rounds(self, woken: asyncio.Event) -> None:
        while True:
            woken.clear()  # a change from here on wakes the wait at the end of this round
            job = await self.tuning.store.require(self.name)
            if job.status.is_terminal:
                return
            await self._create_recorded()
            await self._poll_children()
            finish = self._finish(job)
            if finish is None:
                await self._launch()
            elif finish.stop_children:
                await self._stop_active(finish)
            if not any(t.active for t in self.trials):
                finish = finish or self._exhausted_finish()
                if finish is not None:
                    await finish_job(self.tuning, self.name, finish, self.trials, self.decider.not_improving(
                        self.trials))
                    log.info("tuning job %s: %s", self.name, finish.status.value)
                    return
            await self._save()
            await self._wait(woken, job)
            if self.ex.closing.is_set():
                raise OrchestrationInterrupted(f"tuning job {self.name}: the worker stopped; another resumes the job")

    async def _wait(self, woken: asyncio.Event, job: TuningJob) -> None:
        """Until a trial's event or a stop request wakes the run, the worker stops, or the next round is due."""
        waits = [asyncio.ensure_future(woken.wait()), asyncio.ensure_future(self.ex.closing.wait())]
        try:
            await asyncio.wait(waits, timeout=self._round_due(job), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def _round_due(self, job: TuningJob) -> float:
        """Seconds until the next round if nothing wakes the run.

        Early stopping judges running children on intermediate values, which
        come from their logs, not from events: those are read every
        ``poll_seconds``. Otherwise the run waits for its trials' events, with
        a slow sweep as the safety net: a state-change event is best-effort
        (a failed publish is logged, not retried), and one handled in another
        process (the handler runtime of another node, while this run is on a
        ``headwater worker``) cannot wake this run; the sweep reads the
        children's documents, which are the truth.
        """
        early = self.decider.early_stopping or self.decider.schedule is not None
        running = any(t.created and t.status is TrialStatus.IN_PROGRESS for t in self.trials)
        due = self.ex.poll_seconds if early and running else self.ex.sweep_seconds
        limit = self.config.resource_limits.max_runtime_in_seconds
        if limit:  # MaxRuntimeInSeconds ends the job on time, with no event to say so
            left = limit - (self.tuning.clock() - job.creation_time).total_seconds()
            due = min(due, max(left, 0.0) + 0.05)
        return due

    async def _create_recorded(self) -> None:
        """Create the children of trials recorded but not created yet (after a save)."""
        pending = [t for t in self.trials if t.status is TrialStatus.PENDING and not t.created]
        if not pending:
            return
        await self._save(force=True)  # the record comes first: a restart re-creates the same names
        for t in pending:
            request = child_request(self.job, self.definitions[t.definition_name], t.name, t.hyper_parameters)
            try:
                await self.training.create_training_job(request, starting_note=t.suggestion_note)
            except ResourceInUse:
                pass  # created before a restart
            except ValidationException as err:
                t.status, t.failure_reason, t.error_kind = TrialStatus.FAILED, f"ClientError: {err}", "NonRetryableError"
                t.finished_order = self._next_finished()
            t.created = True
            self._status_dirty = True

    async def _poll_children(self) -> None:
        for t in self.trials:
            if not t.created or t.status.is_terminal:
                continue
            child = await self.training.store.get(t.name)
            if child is None:
                t.created = False  # recorded as created, but the create was lost: create it again
                continue
            metric = self.job.objective(t.definition_name).metric_name
            restarted, points = await self.ex.intermediate.read(child, metric)
            if restarted:
                t.curve = []
                self.decider.forget(t.name)
            for step, value in points:
                if step >= len(t.curve):
                    t.curve.extend([None] * (step + 1 - len(t.curve)))
                t.curve[step] = value
                self._curves_dirty = True
            if refresh_from_child(t, child, metric):
                self._status_dirty = True
            if t.status.is_terminal:
                self.decider.record_rungs(t)
                t.finished_order = t.finished_order or self._next_finished()
                self.ex.intermediate.forget(t.name)
                self.decider.forget(t.name)
            elif t.status is TrialStatus.IN_PROGRESS and points:
                verdict = self.decider.judge(t, self.trials)
                if verdict is not None:
                    await self._stop_child(t, verdict)

    def _next_finished(self) -> int:
        return 1 + max((t.finished_order or 0 for t in self.trials), default=0)

    async def _stop_child(self, t: Trial, by: str) -> None:
        log.info("tuning job %s: stopping %s (%s)", self.name, t.name, by)
        t.stopped_by = t.stopped_by or by
        self._status_dirty = True
        try:
            await self.training.stop_training_job(t.name)
        except (ValidationException, ResourceNotFound):
            pass  # it finished meanwhile

    async def _stop_active(self, finish: Finish) -> None:
        for t in self.trials:
            if t.status is TrialStatus.PENDING and not t.created:
                t.status = TrialStatus.STOPPED  # never started
                t.stopped_by, t.finished_order = "Tuner", self._next_finished()
                self._status_dirty = True
            elif t.created and t.status is TrialStatus.IN_PROGRESS and t.stopped_by is None:
                await self._stop_child(t, "Tuner")

    # --- deciding -------------------------------------------------------------------

    def _finish(self, job: TuningJob) -> Finish | None:
        """A reason to end now (stop, limits, completion criteria, hopeless configuration)."""
        if job.headwater.stop_requested or job.status is TuningJobStatus.STOPPING:
            return Finish(TuningJobStatus.STOPPED)
        limit = self.config.resource_limits.max_runtime_in_seconds
        if limit and (self.tuning.clock() - job.creation_time).total_seconds() >= limit:
            return Finish(TuningJobStatus.STOPPED, f"MaxRuntimeInSeconds ({limit}) reached")
        if self.decider.target_reached(self.trials) or self.decider.stalled(self.trials):
            return Finish(TuningJobStatus.COMPLETED)
        scored = [t for t in self.trials if objective_status(t) == "Succeeded"]
        config_errors = [t for t in self.trials if t.status is TrialStatus.FAILED
                         and (t.failure_reason or "").startswith("ClientError")]
        if not scored and len(config_errors) >= min(2, self.launcher.max_jobs):
            return Finish(TuningJobStatus.FAILED, "No training job can succeed: the first ones failed with a "
                          f"configuration error ({config_errors[-1].failure_reason})")
        return None

    def _exhausted_finish(self) -> Finish | None:
        """When every trial is done and no more can start: Completed, or Failed if none succeeded."""
        if not self.launcher.done(self.trials) or self.launcher.retries_due(self.trials):
            return None
        if any(objective_status(t) == "Succeeded" for t in self.trials):
            return Finish(TuningJobStatus.COMPLETED, stop_children=False)
        failed = [t for t in self.trials if t.status is TrialStatus.FAILED]
        last = failed[-1].failure_reason if failed else "no training job reported the objective metric"
        return Finish(TuningJobStatus.FAILED, f"None of the {len(self.trials)} training jobs succeeded "
                      f"with an objective metric value. Last failure: {last}", stop_children=False)

    # --- launching ------------------------------------------------------------------

    async def _launch(self) -> None:
        capacity = self.max_parallel - sum(1 for t in self.trials if t.active)
        if capacity > 0 and await self.launcher.launch(self.trials, capacity):
            self._status_dirty = True
            await self._create_recorded()

    # --- saving ---------------------------------------------------------------------

    async def _save(self, force: bool = False) -> None:
        due = self._curves_dirty and time.monotonic() - self._last_save >= self.ex.save_curves_every
        if not (force or self._status_dirty or due):
            return
        trials = [t.model_copy(deep=True) for t in self.trials]
        status_changed = self._status_dirty

        def mutate(j: TuningJob) -> TuningJob | None:
            if j.status.is_terminal:
                return None
            j.headwater.trials = trials
            if status_changed:
                j.last_modified_time = self.tuning.clock()
            return j

        await self.tuning.update(self.name, mutate)
        self._status_dirty = self._curves_dirty = False
        self._last_save = time.monotonic()
