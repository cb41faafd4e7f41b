"""The training job a trial runs: the definition, its static and tuned hyperparameters."""

from __future__ import annotations

from typing import Any

from services.runners.images import resolve_image
from services.training.models import CreateTrainingJobRequest
from services.tuning.hyperband import resource_key
from services.tuning.models import Strategy, TrainingJobDefinition, TuningJob
from services.tuning.validation import hyperband_resources

# Definition members that are not CreateTrainingJob members.
_TUNING_ONLY = {"DefinitionName", "TuningObjective", "HyperParameterRanges", "StaticHyperParameters",
                "HyperParameterTuningResourceConfig"}


def child_hyperparameters(job: TuningJob, definition: TrainingJobDefinition, tuned: dict[str, str]) -> dict[str, str]:
    """Static plus tuned hyperparameters, as the child receives them."""
    static = dict(definition.static_hyper_parameters or {})
    metric = job.objective(definition.definition_name).metric_name
    spec = definition.algorithm_specification
    image = resolve_image(spec.training_image or spec.algorithm_name or "")
    if image is not None and image.name == "xgboost" and ":" in metric:
        # SageMaker's XGBoost evaluates the tuning objective's metric even when
        # eval_metric leaves it out; Headwater's container reads eval_metric only.
        wanted = metric.split(":", 1)[1]
        metrics = [m for m in static.get("eval_metric", "").split(",") if m]
        if metrics and wanted not in metrics:
            static["eval_metric"] = ",".join([*metrics, wanted])
        elif not metrics:
            static["eval_metric"] = wanted
    if job.hyper_parameter_tuning_job_config.strategy is Strategy.HYPERBAND:
        key = resource_key(static)
        resources = hyperband_resources(job)
        if key is not None and resources is not None:
            static[key] = str(resources[1])  # a trial Hyperband keeps runs to MaxResource
    return {**static, **tuned}


def child_request(job: TuningJob, definition: TrainingJobDefinition, name: str,
                  tuned: dict[str, str]) -> CreateTrainingJobRequest:
    """The ``CreateTrainingJob`` request of trial ``name``."""
    body: dict[str, Any] = {k: v for k, v in definition.to_api().items() if k not in _TUNING_ONLY}
    if "ResourceConfig" not in body:
        hp = definition.model_extra.get("HyperParameterTuningResourceConfig") if definition.model_extra else None
        if isinstance(hp, dict):
            body["ResourceConfig"] = {k: v for k, v in hp.items()
                                      if k in ("InstanceType", "InstanceCount", "VolumeSizeInGB")}
    body.update(
        TrainingJobName=name,
        HyperParameters=child_hyperparameters(job, definition, tuned),
        TuningJobArn=job.hyper_parameter_tuning_job_arn,
    )
    if job.tags:
        body["Tags"] = list(job.tags)
    return CreateTrainingJobRequest.model_validate(body)
