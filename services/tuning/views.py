"""What the API returns for a tuning job: Describe, its list summary, its children.

Counters and best jobs are derived from the recorded trials whenever they
are asked for, so they can never disagree with them.
"""

from __future__ import annotations

from typing import Any

from services.tuning.early_stopping import worse
from services.tuning.models import Objective, Trial, TuningJob
from services.tuning.trials import best_trial, objective_counters, status_counters, trial_summary

_NOT_DESCRIBED = {"Tags", "Headwater", "Autotune"}


def describe(job: TuningJob) -> dict[str, Any]:
    """The ``DescribeHyperParameterTuningJob`` response."""
    doc = job.to_api()
    for key in _NOT_DESCRIBED:
        doc.pop(key, None)
    trials = job.headwater.trials
    doc["TrainingJobStatusCounters"] = status_counters(trials)
    doc["ObjectiveStatusCounters"] = objective_counters(trials)
    objective = job.objective()
    best = best_trial(trials, objective)
    if best is not None:
        doc["BestTrainingJob"] = trial_summary(best, job.name, job.objective(best.definition_name))
    if job.warm_start_config is not None:
        overall = overall_best(job, best, objective)
        if overall is not None:
            owner = overall.tuning_job_name or job.name
            doc["OverallBestTrainingJob"] = trial_summary(overall, owner, objective)
    return doc


def overall_best(job: TuningJob, best: Trial | None, objective: Objective) -> Trial | None:
    """The best trial of this job and of its warm start parents."""
    candidates = [t for t in job.headwater.parent_trials if t.objective is not None]
    if best is not None:
        candidates.append(best)
    top: Trial | None = None
    for t in candidates:
        if top is None or worse(top.objective, t.objective, objective.maximize):  # type: ignore[arg-type]
            top = t
    return top


def summary(job: TuningJob) -> dict[str, Any]:
    """A ``HyperParameterTuningJobSummary``."""
    config = job.hyper_parameter_tuning_job_config
    out: dict[str, Any] = {
        "HyperParameterTuningJobName": job.name,
        "HyperParameterTuningJobArn": job.hyper_parameter_tuning_job_arn,
        "HyperParameterTuningJobStatus": job.status.value,
        "Strategy": config.strategy.value,
        "CreationTime": job.creation_time,
        "LastModifiedTime": job.last_modified_time,
        "TrainingJobStatusCounters": status_counters(job.headwater.trials),
        "ObjectiveStatusCounters": objective_counters(job.headwater.trials),
        "ResourceLimits": config.resource_limits.to_api(),
    }
    if job.hyper_parameter_tuning_end_time:
        out["HyperParameterTuningEndTime"] = job.hyper_parameter_tuning_end_time
    return out
