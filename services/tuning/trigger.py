"""The trigger convention, tuned: ``datasets/<name>/tuning.json`` turns an upload
into a hyperparameter tuning job instead of a plain training job.

The template is a ``CreateHyperParameterTuningJob`` request in which any
field may be omitted. The training job definition starts from the
training job the upload would have started (``training.json``, or the
built-in XGBoost with the inferred objective); the template's
``HyperParameterTuningJobConfig`` and ``TrainingJobDefinition`` members
override the defaults: Bayesian, the validation channel's metric (the
training channel's without one), XGBoost's usual ranges, 10 trials, 2 at
a time. The name derives from the upload, so a redelivered event names
the same tuning job.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from pydantic import ValidationError

from services.aws.s3 import S3Adapter
from services.core.exceptions import ResourceInUse, ValidationException
from services.core.settings import Settings
from services.core.tasks import Task
from services.training.trigger import DatasetUpload, training_request_for
from services.tuning.models import CreateTuningJobRequest
from services.tuning.service import TASK_KIND, TuningService

log = logging.getLogger(__name__)

TEMPLATE = "tuning.json"
_MAXIMIZED = ("auc", "aucpr", "map", "ndcg", "pre")
DEFAULT_RANGES: dict[str, Any] = {
    "ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
        {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
        {"Name": "min_child_weight", "MinValue": "1", "MaxValue": "10", "ScalingType": "Auto"}],
    "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "10", "ScalingType": "Linear"}],
}


def tuning_job_name_for(upload: DatasetUpload, etag: str) -> str:
    """A deterministic ``HyperParameterTuningJobName`` (at most 32 characters) for this upload."""
    digest = hashlib.sha256(f"{upload.bucket}/{upload.key}/{etag.strip(chr(34))}".encode()).hexdigest()
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", upload.dataset).strip("-")[:19] or "dataset"
    return f"{stem}-{digest[:12]}"


async def tuning_request_for(upload: DatasetUpload, etag: str, s3: S3Adapter,
                             settings: Settings) -> CreateTuningJobRequest | None:
    """The tuning request this upload starts, or ``None`` without ``tuning.json``."""
    found = await s3.get_json(upload.bucket, upload.root + TEMPLATE)
    if found is None:
        return None
    template = found[0]
    where = f"s3://{upload.bucket}/{upload.root}{TEMPLATE}"
    if not isinstance(template, dict):
        raise ValidationException(f"{where} must be a JSON object")
    base = await training_request_for(upload, "unused", s3, settings)
    static = dict(base.hyper_parameters or {})
    channels = [c.channel_name for c in base.input_data_config or []]
    metric = (static.get("eval_metric") or "rmse").split(",")[0]
    channel = "validation" if "validation" in channels else "train"
    config: dict[str, Any] = {
        "Strategy": "Bayesian",
        "HyperParameterTuningJobObjective": {"Type": "Maximize" if metric in _MAXIMIZED else "Minimize",
                                             "MetricName": f"{channel}:{metric}"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2},
        "ParameterRanges": DEFAULT_RANGES,
        **(template.get("HyperParameterTuningJobConfig") or {}),
    }
    tuned = {r["Name"] for kind in (config.get("ParameterRanges") or {}).values() if isinstance(kind, list)
             for r in kind if isinstance(r, dict) and "Name" in r}
    base_doc = base.model_dump(by_alias=True, exclude_none=True, mode="json")
    definition: dict[str, Any] = {k: v for k, v in base_doc.items()
                                  if k not in ("TrainingJobName", "HyperParameters", "Tags")}
    definition["StaticHyperParameters"] = {k: v for k, v in static.items() if k not in tuned}
    definition.update(template.get("TrainingJobDefinition") or {})
    body = {k: v for k, v in template.items() if k not in ("HyperParameterTuningJobConfig", "TrainingJobDefinition")}
    body.update(HyperParameterTuningJobName=tuning_job_name_for(upload, etag), HyperParameterTuningJobConfig=config,
                TrainingJobDefinition=definition, Tags=base_doc.get("Tags", []))
    try:
        return CreateTuningJobRequest.model_validate(body)
    except ValidationError as err:
        first = err.errors()[0]
        raise ValidationException(f"{where} is not a valid CreateHyperParameterTuningJob request: "
                                  f"{first['loc']}: {first['msg']}") from err


async def start_tuning_for_upload(upload: DatasetUpload, etag: str, s3: S3Adapter, settings: Settings,
                                  tuning: TuningService | None) -> str | None:
    """Start the upload's tuning job (idempotently); ``None`` when the dataset has no ``tuning.json``."""
    if tuning is None:
        return None
    request = await tuning_request_for(upload, etag, s3, settings)
    if request is None:
        return None
    name = request.hyper_parameter_tuning_job_name
    try:
        await tuning.create_tuning_job(request)
        log.info("started tuning job %s for s3://%s/%s", name, upload.bucket, upload.key)
    except ResourceInUse:
        # The same event again. If the first delivery died between creating and
        # enqueueing, hand the task over again; the worker's claim makes a copy harmless.
        job = await tuning.describe_tuning_job(name)
        if job.headwater.worker is None and not job.status.is_terminal:
            await tuning.tasks.enqueue(Task(kind=TASK_KIND, name=name))
    return name
