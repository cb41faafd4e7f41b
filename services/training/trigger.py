"""The trigger convention: a file under ``datasets/<name>/train/`` starts a
training job.

With ``datasets/<name>/training.json`` (a ``CreateTrainingJob`` request
template) that template is used; without it, the built-in XGBoost with the
objective inferred from the label column, channels from ``train/`` and
(when present) ``validation/``. The job name is derived from the bucket,
key and ETag, so the same event delivered twice names the same job.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from services.aws.s3 import S3Adapter
from services.core.exceptions import ValidationException
from services.core.settings import Settings
from services.training.models import CreateTrainingJobRequest

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
_KEY = re.compile(r"^datasets/(?P<dataset>[^/]+)/train/(?P<rest>.+)$")
_SAMPLE_BYTES = 1 << 20  # enough rows to tell a label's kind
_MAX_CLASSES = 100


@dataclass(frozen=True)
class DatasetUpload:
    """An upload that matches the convention."""

    bucket: str
    key: str
    dataset: str

    @property
    def root(self) -> str:
        """``datasets/<name>/``."""
        return f"datasets/{self.dataset}/"


def match_upload(bucket: str, key: str) -> DatasetUpload | None:
    """The dataset an uploaded key trains, or ``None`` when it is not a training file."""
    m = _KEY.match(key)
    if m is None or m["rest"].endswith("/") or m["rest"].rsplit("/", 1)[-1].startswith("."):
        return None
    return DatasetUpload(bucket, key, m["dataset"])


def job_name_for(upload: DatasetUpload, etag: str) -> str:
    """A deterministic, valid ``TrainingJobName`` for this upload.

    Derived from bucket, key and ETag: a redelivered event names the same
    job, and so does a byte-identical re-upload (same data, same model),
    while new content at the same key starts a new job. The sequencer is
    left out on purpose: emulators and S3 differ in how they fill it.
    """
    digest = hashlib.sha256(f"{upload.bucket}/{upload.key}/{etag.strip(chr(34))}".encode()).hexdigest()
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", upload.dataset).strip("-")[:40] or "dataset"
    return f"{stem}-{digest[:12]}"


def infer_objective(labels: list[float]) -> dict[str, str]:
    """XGBoost hyperparameters for the label column's kind: binary, multiclass or regression."""
    if not labels:
        raise ValueError("no labels")
    integral = all(float(v).is_integer() for v in labels)
    distinct = {int(v) for v in labels} if integral else set()
    if integral and distinct <= {0, 1}:
        return {"objective": "binary:logistic", "eval_metric": "logloss"}
    if integral and min(distinct) >= 0 and max(distinct) < _MAX_CLASSES and len(distinct) <= _MAX_CLASSES:
        return {"objective": "multi:softprob", "num_class": str(max(distinct) + 1), "eval_metric": "mlogloss"}
    return {"objective": "reg:squarederror", "eval_metric": "rmse"}


def sample_labels(data: bytes) -> list[float]:
    """First-column values of a CSV sample (the last, maybe partial, line dropped)."""
    lines = data.decode("utf-8", errors="replace").splitlines()
    if len(data) >= _SAMPLE_BYTES and lines:
        lines = lines[:-1]
    out = []
    for line in lines:
        cell = line.split(",", 1)[0].strip()
        try:
            out.append(float(cell))
        except ValueError:
            continue  # the container reports bad cells with file and line
    return out


async def training_request_for(upload: DatasetUpload, job_name: str, s3: S3Adapter,
                               settings: Settings) -> CreateTrainingJobRequest:
    """The ``CreateTrainingJob`` request this upload starts."""
    found = await s3.get_json(upload.bucket, upload.root + "training.json")
    defaults = _defaults(upload, job_name, settings, has_validation=await _has_objects(s3, upload, "validation/"))
    if found is not None:
        template = found[0]
        if not isinstance(template, dict):
            raise ValidationException(f"s3://{upload.bucket}/{upload.root}training.json must be a JSON object")
        merged = {**defaults, **template, "TrainingJobName": job_name}
    else:
        labels = sample_labels(await _head_bytes(s3, upload.bucket, upload.key))
        hps = {"num_round": "100", "max_depth": "6", "eta": "0.2", **_safe_infer(labels)}
        if defaults.get("InputDataConfig") and len(defaults["InputDataConfig"]) > 1:
            hps["early_stopping_rounds"] = "10"
        merged = {**defaults, "HyperParameters": hps}
    try:
        return CreateTrainingJobRequest.model_validate(merged)
    except ValidationError as err:
        raise ValidationException(f"{upload.root}training.json is not a valid CreateTrainingJob request: "
                                  f"{err.errors()[0]['loc']}: {err.errors()[0]['msg']}") from err


def _safe_infer(labels: list[float]) -> dict[str, str]:
    # No parsable label: let the container fail the job with file and line.
    return infer_objective(labels) if labels else {"objective": "reg:squarederror", "eval_metric": "rmse"}


def _defaults(upload: DatasetUpload, job_name: str, settings: Settings, has_validation: bool) -> dict[str, Any]:
    def channel(name: str) -> dict[str, Any]:
        return {"ChannelName": name, "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{upload.bucket}/{upload.root}{name}/",
            "S3DataDistributionType": "FullyReplicated"}}}

    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": f"arn:aws:iam::{settings.account_id}:role/headwater-training",
        "InputDataConfig": [channel("train")] + ([channel("validation")] if has_validation else []),
        "OutputDataConfig": {"S3OutputPath": f"s3://{settings.artifacts_bucket}/models/{upload.dataset}"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Tags": [{"Key": "headwater:dataset", "Value": upload.dataset},
                 {"Key": "headwater:trigger", "Value": f"s3://{upload.bucket}/{upload.key}"}],
    }


async def _has_objects(s3: S3Adapter, upload: DatasetUpload, sub: str) -> bool:
    async for _ in s3.list_objects(upload.bucket, upload.root + sub):
        return True
    return False


async def _head_bytes(s3: S3Adapter, bucket: str, key: str) -> bytes:
    try:
        resp = await s3.client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{_SAMPLE_BYTES - 1}")
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "InvalidRange":
            return b""  # an empty object: the container fails the job naming the file
        raise
    async with resp["Body"] as body:
        data = await body.read()
    if key.endswith(".gz"):
        try:
            # A ranged read cuts the stream: take what decompresses.
            return zlib.decompressobj(wbits=31).decompress(data, _SAMPLE_BYTES)
        except zlib.error:
            return b""
    return data


