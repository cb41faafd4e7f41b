"""Judging trials: which running child to stop, and when the whole job is done.

Running children are judged on their intermediate objective values by the
median stopping rule (``TrainingJobEarlyStoppingType: Auto``) or by
Hyperband's rungs. ``TuningJobCompletionCriteria`` ends a job once a trial
reaches ``TargetObjectiveMetricValue``, or once
``MaxNumberOfTrainingJobsNotImproving`` trials in a row (in the order they
finished) did not beat the best.
"""

from __future__ import annotations

from services.tuning import hyperband
from services.tuning.early_stopping import first_stopping_step, worse
from services.tuning.hyperband import HyperbandSchedule
from services.tuning.models import Trial, TuningJob
from services.tuning.trials import objective_status


class Decider:
    """Stopping decisions for one tuning job."""

    def __init__(self, job: TuningJob, schedule: HyperbandSchedule | None, early_stopping: bool) -> None:
        self.job = job
        self.schedule = schedule
        self.early_stopping = early_stopping
        self.criteria = job.hyper_parameter_tuning_job_config.tuning_job_completion_criteria
        self._next_step: dict[str, int] = {}  # the first step the median rule has not judged yet

    def bracket_of(self, fresh_ordinal: int) -> int | None:
        """The Hyperband bracket of a new trial (``None`` without Hyperband)."""
        return self.schedule.bracket_of(fresh_ordinal) if self.schedule else None

    def forget(self, name: str) -> None:
        """Drop state kept for a finished (or restarted) trial."""
        self._next_step.pop(name, None)

    def judge(self, trial: Trial, trials: list[Trial]) -> str | None:
        """``Hyperband`` or ``EarlyStopping`` when ``trial`` must stop now, else ``None``."""
        maximize = self.job.objective(trial.definition_name).maximize
        if self.schedule is not None and trial.bracket is not None:
            competing: dict[str, list[float]] = {}
            for other in trials:
                if other is not trial and other.bracket == trial.bracket:
                    for rung, value in other.rungs.items():
                        competing.setdefault(rung, []).append(value)
            trial.rungs, stop = hyperband.judge(self.schedule, trial.bracket, trial.curve, trial.rungs,
                                                competing, maximize)
            if stop:
                return "Hyperband"
        if self.early_stopping:
            earlier = [o.curve for o in trials if o.index < trial.index and o.curve
                       and o.definition_name == trial.definition_name]
            start = self._next_step.get(trial.name, 0)
            self._next_step[trial.name] = len(trial.curve)
            if first_stopping_step(trial.curve, earlier, start, maximize) is not None:
                return "EarlyStopping"
        return None

    def record_rungs(self, trial: Trial) -> None:
        """Record the rungs a finished trial reached, so later trials of its bracket compete with them
        (a child can finish between two polls, before it was judged)."""
        if self.schedule is None or trial.bracket is None or trial.stopped_by == "Hyperband":
            return
        for rung in self.schedule.rungs(trial.bracket):
            value = hyperband.value_at(trial.curve, rung)
            if value is None:
                break
            trial.rungs.setdefault(str(rung), value)

    def target_reached(self, trials: list[Trial]) -> bool:
        """True once a trial's objective reached ``TargetObjectiveMetricValue``."""
        target = self.criteria.target_objective_metric_value if self.criteria else None
        if target is None:
            return False
        maximize = self.job.objective().maximize
        return any(objective_status(t) == "Succeeded" and not worse(t.objective, target, maximize)  # type: ignore[arg-type]
                   for t in trials)

    def not_improving(self, trials: list[Trial]) -> int | None:
        """Trials finished since the best one (``None`` without ``BestObjectiveNotImproving``)."""
        rule = self.criteria.best_objective_not_improving if self.criteria else None
        if rule is None or not rule.max_number_of_training_jobs_not_improving:
            return None
        maximize = self.job.objective().maximize
        scored = sorted((t for t in trials if objective_status(t) == "Succeeded" and t.finished_order),
                        key=lambda t: t.finished_order or 0)
        best: float | None = None
        since = 0
        for t in scored:
            if best is None or worse(best, t.objective, maximize):  # type: ignore[arg-type]
                best, since = t.objective, 0
            else:
                since += 1
        return since

    def stalled(self, trials: list[Trial]) -> bool:
        """True once ``MaxNumberOfTrainingJobsNotImproving`` trials in a row did not improve the best."""
        rule = self.criteria.best_objective_not_improving if self.criteria else None
        count = self.not_improving(trials)
        return bool(rule and count is not None and count >= (rule.max_number_of_training_jobs_not_improving or 0))
