"""``WarmStartConfig``: the parents' results seed a new tuning job.

The parents' scored trials are copied onto the new job's document: the
Bayesian strategy fits its surrogate to them before its first suggestion,
and ``OverallBestTrainingJob`` is the best of them and of the new job's
own trials. ``IdenticalDataAndAlgorithm`` requires the parents' training
image and input data; ``TransferLearning`` allows changes (trials whose
values fall outside the new ranges are left out of the model).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.core.exceptions import ResourceNotFound, ValidationException
from services.tuning.models import CreateTuningJobRequest, TrainingJobDefinition, Trial, TuningJob
from services.tuning.trials import objective_status


def _data(d: TrainingJobDefinition) -> list[tuple[str, str]]:
    return sorted((c.channel_name, c.data_source.s3_data_source.s3_uri if c.data_source.s3_data_source else "")
                  for c in d.input_data_config or [])


def _image(d: TrainingJobDefinition) -> str:
    return d.algorithm_specification.training_image or d.algorithm_specification.algorithm_name or ""


async def parent_trials(find: Callable[[str], Awaitable[TuningJob | None]],
                        request: CreateTuningJobRequest) -> list[Trial]:
    """The parents' scored trials (each parent looked up by name with ``find``), checked against the warm start
    type."""
    config = request.warm_start_config
    if config is None:
        return []
    metric = (request.hyper_parameter_tuning_job_config.hyper_parameter_tuning_job_objective
              or request.definitions()[0].tuning_objective)
    out: list[Trial] = []
    for ref in config.parent_hyper_parameter_tuning_jobs:
        name = ref.hyper_parameter_tuning_job_name or ""
        parent = await find(name)
        if parent is None:
            raise ResourceNotFound(f"Requested resource not found: parent hyperparameter tuning job {name} "
                                   f"does not exist")
        if not parent.status.is_terminal:
            raise ValidationException(f"Parent hyperparameter tuning job {name} is {parent.status.value}: a warm "
                                      f"start needs parents that are Completed, Stopped or Failed")
        if metric is not None and parent.objective().metric_name != metric.metric_name:
            raise ValidationException(f"The objective metric {metric.metric_name!r} differs from parent {name}'s "
                                      f"({parent.objective().metric_name!r})")
        if config.warm_start_type == "IdenticalDataAndAlgorithm":
            mine, theirs = request.definitions()[0], parent.definitions()[0]
            if _image(mine) != _image(theirs) or _data(mine) != _data(theirs):
                raise ValidationException(
                    f"IdenticalDataAndAlgorithm needs the training image and input data of parent {name}; "
                    f"use TransferLearning to change them")
        for t in parent.headwater.trials:
            if objective_status(t) == "Succeeded":
                out.append(t.model_copy(update={"tuning_job_name": parent.name, "curve": [], "rungs": {}}))
        out.extend(parent.headwater.parent_trials)
    seen: set[str] = set()
    return [t for t in out if not (t.name in seen or seen.add(t.name))]  # type: ignore[func-returns-value]
