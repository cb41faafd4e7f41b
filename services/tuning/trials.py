"""Trials as SageMaker reports them: counters, objective statuses, summaries, the best job.

A failed child counts as ``RetryableError`` when the platform failed it
(``InternalServerError``: a lost worker, a container that could not start)
and is then retried with the same hyperparameters; any other failure (the
algorithm's or the user's) is a ``NonRetryableError``.
"""

from __future__ import annotations

from typing import Any

from services.training.models import TrainingJob
from services.tuning.early_stopping import worse
from services.tuning.models import Objective, Trial, TrialStatus

#: A trial failing with a retryable error is tried this many more times.
MAX_RETRIES = 2
RETRYABLE_PREFIX = "InternalServerError"


def error_kind(reason: str | None) -> str:
    """``RetryableError`` or ``NonRetryableError`` for a failed child's ``FailureReason``."""
    return "RetryableError" if (reason or "").startswith(RETRYABLE_PREFIX) else "NonRetryableError"


def is_configuration_error(reason: str | None) -> bool:
    """True for a failure every trial would share (no container for the image, no input data)."""
    return (reason or "").startswith("ClientError")


def objective_value(child: TrainingJob, metric: str) -> float | None:
    """The objective metric's final value from the child's ``FinalMetricDataList``."""
    for m in child.final_metric_data_list or []:
        if m.metric_name == metric:
            return float(m.value)
    return None


def objective_status(trial: Trial) -> str:
    """``ObjectiveStatus``: Succeeded, Pending or Failed."""
    if not trial.status.is_terminal:
        return "Pending"
    if trial.status is not TrialStatus.FAILED and trial.objective is not None:
        return "Succeeded"
    return "Failed"


def status_counters(trials: list[Trial]) -> dict[str, int]:
    """``TrainingJobStatusCounters``."""
    out = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    for t in trials:
        if t.status is TrialStatus.COMPLETED:
            out["Completed"] += 1
        elif t.status is TrialStatus.STOPPED:
            out["Stopped"] += 1
        elif t.status is TrialStatus.FAILED:
            out[t.error_kind or "NonRetryableError"] += 1
        else:
            out["InProgress"] += 1
    return out


def objective_counters(trials: list[Trial]) -> dict[str, int]:
    """``ObjectiveStatusCounters``."""
    out = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for t in trials:
        out[objective_status(t)] += 1
    return out


def best_trial(trials: list[Trial], objective: Objective) -> Trial | None:
    """The completed trial with the best objective (a stopped one only when none completed)."""
    scored = [t for t in trials if objective_status(t) == "Succeeded"]
    completed = [t for t in scored if t.status is TrialStatus.COMPLETED]
    best: Trial | None = None
    for t in completed or scored:
        if best is None or worse(best.objective, t.objective, objective.maximize):  # type: ignore[arg-type]
            best = t
    return best


def trial_summary(trial: Trial, tuning_job: str, objective: Objective) -> dict[str, Any]:
    """A ``HyperParameterTrainingJobSummary``."""
    out: dict[str, Any] = {
        "TrainingJobName": trial.name,
        "TrainingJobArn": trial.arn or "",
        "TuningJobName": tuning_job,
        "CreationTime": trial.creation_time,
        "TrainingJobStatus": "InProgress" if trial.status is TrialStatus.PENDING else trial.status.value,
        "TunedHyperParameters": dict(trial.hyper_parameters),
        "ObjectiveStatus": objective_status(trial),
    }
    if trial.definition_name:
        out["TrainingJobDefinitionName"] = trial.definition_name
    if trial.training_start_time:
        out["TrainingStartTime"] = trial.training_start_time
    if trial.training_end_time:
        out["TrainingEndTime"] = trial.training_end_time
    if trial.failure_reason:
        out["FailureReason"] = trial.failure_reason
    if trial.objective is not None:
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": objective.type, "MetricName": objective.metric_name, "Value": trial.objective}
    return {k: v for k, v in out.items() if v is not None}


def refresh_from_child(trial: Trial, child: TrainingJob, metric: str) -> bool:
    """Copy the child's status, times and objective into ``trial``; True when anything changed."""
    before = trial.model_dump()
    trial.created = True
    trial.arn = child.training_job_arn
    trial.creation_time = child.creation_time
    trial.training_start_time = child.training_start_time
    trial.training_end_time = child.training_end_time
    trial.status = TrialStatus(child.training_job_status.value)
    final = objective_value(child, metric)
    if final is not None:
        trial.objective = final
    elif trial.status.is_terminal and trial.objective is None:
        trial.objective = next((v for v in reversed(trial.curve) if v is not None), None)
    if trial.status is TrialStatus.FAILED:
        trial.failure_reason = child.failure_reason
        trial.error_kind = error_kind(child.failure_reason)
        trial.objective = None
    return trial.model_dump() != before
