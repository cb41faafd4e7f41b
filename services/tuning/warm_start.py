"""``WarmStartConfig``: the parents' results seed a new tuning job.

The parents' scored trials are copied onto the new job's document: the
Bayesian strategy fits its surrogate to them before its first suggestion,
and ``OverallBestTrainingJob`` is the best of them and of the new job's
own trials.

What SageMaker checks of a warm start, and Headwater with it: every parent
exists and is finished; the objective metric is the parents'; the set of
static plus tunable hyperparameter names is the parents' (a name may move
between static and tunable), a name tuned in both keeps its range type, and
the hyperparameter changes (a tuned name made static, a static value
changed) stay within :data:`MAX_CHANGES`; and only the fields SageMaker lets
change may differ from the parents' definition (not ``Environment``, for
example). ``IdenticalDataAndAlgorithm`` moreover needs the parents'
algorithm (the same training image or algorithm) and the same input
channels. The data's S3 location may differ: the SDK's ``record_set()``
uploads the same data under a new prefix each time, and SageMaker accepts
that. ``TransferLearning`` lets the data and the image change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.core.exceptions import ResourceNotFound, ValidationException
from services.tuning.models import CreateTuningJobRequest, ParameterRanges, TrainingJobDefinition, Trial, TuningJob
from services.tuning.trials import objective_status

IDENTICAL = "IdenticalDataAndAlgorithm"
# At most this many hyperparameter changes against a parent (SageMaker's warm start restrictions).
MAX_CHANGES = 10
# Recorded by SageMaker (and the SDK) among the static hyperparameters: not one of the user's.
_OBJECTIVE_KEY = "_tuning_objective_metric"
# Members of a definition a warm start must keep as its parents had them (SageMaker lets only the
# algorithm, data, output, static hyperparameters, role, resources, stopping condition, VPC, spot and
# checkpoint settings change).
_FIXED_MEMBERS = ("Environment", "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
                  "RetryStrategy")


def _ranges(d: TrainingJobDefinition, job: CreateTuningJobRequest) -> dict[str, tuple[str, list[str]]]:
    """The definition's tunable hyperparameters: name -> (range type, categorical values)."""
    ranges: ParameterRanges | None = (d.hyper_parameter_ranges
                                      or job.hyper_parameter_tuning_job_config.parameter_ranges)
    if ranges is None:
        return {}
    out: dict[str, tuple[str, list[str]]] = {}
    for r in ranges.integer_parameter_ranges or []:
        out[r.name] = ("Integer", [])
    for c in ranges.continuous_parameter_ranges or []:
        out[c.name] = ("Continuous", [])
    for k in ranges.categorical_parameter_ranges or []:
        out[k.name] = ("Categorical", list(k.values))
    return out


def _static(d: TrainingJobDefinition) -> dict[str, str]:
    return {k: v for k, v in (d.static_hyper_parameters or {}).items() if k != _OBJECTIVE_KEY}


def _image(d: TrainingJobDefinition) -> str:
    return d.algorithm_specification.training_image or d.algorithm_specification.algorithm_name or ""


def _member(d: TrainingJobDefinition, name: str) -> Any:
    """A member as SageMaker compares it: an absent flag is ``false``, an empty environment none."""
    if name == "Environment":
        return d.environment or None
    value = (d.model_extra or {}).get(name)
    return bool(value) if name.startswith("Enable") else value


def _pairs(mine: CreateTuningJobRequest, parent: TuningJob) -> list[tuple[TrainingJobDefinition,
                                                                          TrainingJobDefinition]]:
    """Each of the new job's definitions with the parent's of the same ``DefinitionName`` (a lone definition
    with the parent's first)."""
    theirs = {d.definition_name: d for d in parent.definitions()}
    if len(mine.definitions()) == 1 and len(theirs) == 1:
        return [(mine.definitions()[0], parent.definitions()[0])]
    names = [d.definition_name for d in mine.definitions()]
    if set(names) != set(theirs):
        raise ValidationException(f"The TrainingJobDefinitions ({sorted(map(str, names))}) must be those of parent "
                                  f"hyperparameter tuning job {parent.name} ({sorted(map(str, theirs))})")
    return [(d, theirs[d.definition_name]) for d in mine.definitions()]


def check_parent(request: CreateTuningJobRequest, parent: TuningJob, warm_start_type: str) -> None:
    """Refuse ``request`` as a warm start from ``parent`` where SageMaker would (see the module's notes)."""
    name = parent.name
    for mine, theirs in _pairs(request, parent):
        tuned, tuned_before = _ranges(mine, request), _ranges(theirs, parent)
        static, static_before = _static(mine), _static(theirs)
        if set(tuned) | set(static) != set(tuned_before) | set(static_before):
            raise ValidationException(
                "The set of tunable plus static HyperParameter names is not the same across current and parent "
                f"tuning jobs ({name}). Please ensure this set is constant when warm starting. Note that previously "
                "static HyperParameters can be tuned in warm start jobs and vice versa.")
        for hp in set(tuned) & set(tuned_before):
            if tuned[hp][0] != tuned_before[hp][0]:
                raise ValidationException(f"The type of hyperparameter {hp!r} must not change in a warm start: it is "
                                          f"{tuned_before[hp][0]} in parent {name} and {tuned[hp][0]} here")
        # A tuned name made static counts its categorical values (1 for a numeric range); a static value
        # changed counts 2 (the value the parent ran with, and the new one).
        changes = sum(len(tuned_before[hp][1]) or 1 for hp in static if hp in tuned_before)
        changes += sum(2 for hp, value in static.items() if hp in static_before and static_before[hp] != value)
        if changes > MAX_CHANGES:
            raise ValidationException(
                f"A warm start allows at most {MAX_CHANGES} changes of hyperparameters against its parent (tunable "
                f"ones made static, static values changed); this job makes {changes} against {name}")
        changed = [m for m in _FIXED_MEMBERS if _member(mine, m) != _member(theirs, m)]
        if changed:
            raise ValidationException(
                f"{', '.join(changed)} differ from parent {name}'s. Only the following fields in "
                "TrainingJobDefinition are allowed to change: [AlgorithmSpecification, InputDataConfig, "
                "OutputDataConfig, StaticHyperParameters, RoleArn, ResourceConfig, StoppingCondition, VpcConfig, "
                "EnableManagedSpotTraining, CheckpointConfig]")
        if warm_start_type != IDENTICAL:
            continue
        if _image(mine) != _image(theirs):
            raise ValidationException(f"{IDENTICAL} needs the algorithm of parent {name} (training image "
                                      f"{_image(theirs)!r}, not {_image(mine)!r}); use TransferLearning to "
                                      f"change it")
        channels = sorted(c.channel_name for c in mine.input_data_config or [])
        before = sorted(c.channel_name for c in theirs.input_data_config or [])
        if channels != before:
            raise ValidationException(f"{IDENTICAL} needs the input data of parent {name} (channels {before}, "
                                      f"not {channels}); use TransferLearning to change it")


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
        check_parent(request, parent, config.warm_start_type)
        for t in parent.headwater.trials:
            if objective_status(t) == "Succeeded":
                out.append(t.model_copy(update={"tuning_job_name": parent.name, "curve": [], "rungs": {}}))
        out.extend(parent.headwater.parent_trials)
    seen: set[str] = set()
    return [t for t in out if not (t.name in seen or seen.add(t.name))]  # type: ignore[func-returns-value]
