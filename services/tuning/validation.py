"""Checks on ``CreateHyperParameterTuningJob`` that botocore's constraints cannot express."""

from __future__ import annotations

from services.aws.s3 import parse_s3_uri
from services.core.exceptions import ValidationException
from services.runners.images import resolve_image
from services.training.metrics import check_metric_definitions, definitions_for
from services.tuning.hyperband import resource_key
from services.tuning.models import CreateTuningJobRequest, Strategy, TrainingJobDefinition
from services.tuning.ranges import ParameterSpace, parse_space

MAX_DEFINITIONS = 10
MAX_PARENTS = 5


def check_request(request: CreateTuningJobRequest) -> dict[str | None, ParameterSpace]:
    """Validate ``request``; return each definition's parameter space by definition name."""
    config = request.hyper_parameter_tuning_job_config
    if request.autotune:
        raise ValidationException("Autotune is not supported by Headwater: give ParameterRanges and a Strategy")
    if (request.training_job_definition is None) == (not request.training_job_definitions):
        raise ValidationException("Exactly one of TrainingJobDefinition or TrainingJobDefinitions must be provided")
    definitions = request.definitions()
    if len(definitions) > MAX_DEFINITIONS:
        raise ValidationException(f"TrainingJobDefinitions can hold at most {MAX_DEFINITIONS} definitions")
    if request.training_job_definitions:
        names = [d.definition_name for d in definitions]
        if None in names or len(set(names)) != len(names):
            raise ValidationException("Each of TrainingJobDefinitions needs a unique DefinitionName")
        if config.hyper_parameter_tuning_job_objective or config.parameter_ranges:
            raise ValidationException("With TrainingJobDefinitions, give TuningObjective and HyperParameterRanges "
                                      "in each definition, not in HyperParameterTuningJobConfig")
    spaces: dict[str | None, ParameterSpace] = {}
    for d in definitions:
        objective = d.tuning_objective or config.hyper_parameter_tuning_job_objective
        if objective is None:
            raise ValidationException("HyperParameterTuningJobObjective (or the definition's TuningObjective) "
                                      "is required")
        if d.tuning_objective and config.hyper_parameter_tuning_job_objective:
            raise ValidationException("Give the objective either in HyperParameterTuningJobConfig or in "
                                      "TrainingJobDefinition.TuningObjective, not both")
        if d.hyper_parameter_ranges and config.parameter_ranges:
            raise ValidationException("Give ParameterRanges either in HyperParameterTuningJobConfig or in "
                                      "TrainingJobDefinition.HyperParameterRanges, not both")
        space = parse_space(d.hyper_parameter_ranges or config.parameter_ranges)
        _check_definition(d, objective.metric_name, space)
        spaces[d.definition_name] = space
    _check_strategy(request, spaces)
    if request.warm_start_config and len(request.warm_start_config.parent_hyper_parameter_tuning_jobs) > MAX_PARENTS:
        raise ValidationException(f"WarmStartConfig can name at most {MAX_PARENTS} parent tuning jobs")
    return spaces


def _check_definition(d: TrainingJobDefinition, metric: str, space: ParameterSpace) -> None:
    spec = d.algorithm_specification
    if not spec.training_image and not spec.algorithm_name:
        raise ValidationException("Either TrainingImage or AlgorithmName must be specified in AlgorithmSpecification")
    parse_s3_uri(d.output_data_config.s3_output_path)
    for ch in d.input_data_config or []:
        if ch.data_source.s3_data_source is None:
            raise ValidationException(f"Channel {ch.channel_name}: only S3DataSource is supported")
        parse_s3_uri(ch.data_source.s3_data_source.s3_uri)
    check_metric_definitions(spec.metric_definitions)
    image = resolve_image(spec.training_image or spec.algorithm_name or "")
    known = {m.name for m in definitions_for(image.name if image else None, spec.metric_definitions)}
    if metric not in known:
        raise ValidationException(
            f"The objective metric {metric!r} is not defined: add it to AlgorithmSpecification.MetricDefinitions"
            + (f" (known: {', '.join(sorted(known))})" if known else ""))
    clash = set(space.names) & set(d.static_hyper_parameters or {})
    if clash:
        raise ValidationException(f"Hyperparameters {sorted(clash)} are both static and tuned")


def _check_strategy(request: CreateTuningJobRequest, spaces: dict[str | None, ParameterSpace]) -> None:
    config = request.hyper_parameter_tuning_job_config
    strategy = config.strategy
    if strategy is Strategy.GRID:
        for space in spaces.values():
            if space.numeric or not space.categorical:
                raise ValidationException("The Grid strategy supports only CategoricalParameterRanges")
    elif not config.resource_limits.max_number_of_training_jobs:
        raise ValidationException(f"ResourceLimits.MaxNumberOfTrainingJobs is required for the {strategy.value} "
                                  f"strategy")
    for space in spaces.values():
        if not space.names:
            raise ValidationException("ParameterRanges must hold at least one range to tune")
    hb = config.strategy_config.hyperband_strategy_config if config.strategy_config else None
    if hb is not None and strategy is not Strategy.HYPERBAND:
        raise ValidationException("HyperbandStrategyConfig is only allowed with the Hyperband strategy")
    if strategy is Strategy.HYPERBAND:
        if config.training_job_early_stopping_type == "Auto":
            raise ValidationException("TrainingJobEarlyStoppingType must be Off with the Hyperband strategy: "
                                      "Hyperband stops trials early itself")
        if hyperband_resources(request) is None:
            raise ValidationException(
                "Hyperband needs HyperbandStrategyConfig.MaxResource, or a static hyperparameter to infer it from "
                "(epochs, numepochs, n-epochs, n_epochs, num_epochs, num_round)")
        lo, hi = hyperband_resources(request)  # type: ignore[misc]
        if lo > hi:
            raise ValidationException(f"HyperbandStrategyConfig.MinResource {lo} must not exceed MaxResource {hi}")


def hyperband_resources(request: CreateTuningJobRequest) -> tuple[int, int] | None:
    """``(MinResource, MaxResource)``, MaxResource inferred from static hyperparameters when not given."""
    config = request.hyper_parameter_tuning_job_config
    hb = config.strategy_config.hyperband_strategy_config if config.strategy_config else None
    lo = (hb.min_resource if hb else None) or 1
    hi = hb.max_resource if hb else None
    if hi is None:
        static = request.definitions()[0].static_hyper_parameters or {}
        key = resource_key(static)
        if key is None:
            return None
        try:
            hi = int(float(static[key]))
        except ValueError:
            return None
    return lo, hi
