"""Helpers shared by the tuning integration tests: tiny data and request builders."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from tests.support import wait_for

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/headwater-tuning"
DATA_BUCKET = "headwater-data"
TERMINAL = ("Completed", "Failed", "Stopped")


def regression_csv(rows: int, seed: int, cols: int = 4) -> bytes:
    """Regression data with a nonlinear signal (depth and learning rate matter): label first, no header."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, cols))
    y = np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.1 * rng.normal(size=rows)
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    return buf.getvalue().encode()


def upload_dataset(s3: Any, prefix: str, rows: int = 300) -> None:
    """``train/`` and ``validation/`` channels under ``prefix``."""
    s3.put_object(Bucket=DATA_BUCKET, Key=f"{prefix}/train/part.csv", Body=regression_csv(rows, 1))
    s3.put_object(Bucket=DATA_BUCKET, Key=f"{prefix}/validation/part.csv", Body=regression_csv(rows // 2, 2))


def definition(prefix: str, static: dict[str, str] | None = None, max_runtime: int = 600) -> dict[str, Any]:
    """A ``TrainingJobDefinition`` for the built-in XGBoost on ``prefix``'s channels."""

    def channel(name: str) -> dict[str, Any]:
        return {"ChannelName": name, "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{DATA_BUCKET}/{prefix}/{name}/",
            "S3DataDistributionType": "FullyReplicated"}}}

    return {
        "StaticHyperParameters": static if static is not None else {"num_round": "8",
                                                                    "objective": "reg:squarederror"},
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [channel("train"), channel("validation")],
        "OutputDataConfig": {"S3OutputPath": f"s3://headwater-artifacts/tuning/{prefix}"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


def tuning_config(strategy: str, max_jobs: int, parallel: int, ranges: dict[str, Any], *,
                  metric: str = "validation:rmse", kind: str = "Minimize", **extra: Any) -> dict[str, Any]:
    """A ``HyperParameterTuningJobConfig``."""
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": parallel}
    if max_jobs:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    return {"Strategy": strategy, "HyperParameterTuningJobObjective": {"Type": kind, "MetricName": metric},
            "ResourceLimits": limits, "ParameterRanges": ranges, **extra}


def wait_for_tuning(sm: Any, name: str, timeout: float = 240) -> dict[str, Any]:
    """Wait until tuning job ``name`` is terminal; return its description."""

    def done() -> dict[str, Any] | None:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        return d if d["HyperParameterTuningJobStatus"] in TERMINAL else None

    return wait_for(done, timeout, interval=0.5, what=f"tuning job {name} to finish")


def children(sm: Any, name: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every ``ListTrainingJobsForHyperParameterTuningJob`` summary, through the paginator."""
    pages = sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=name, **kwargs)
    return [s for p in pages for s in p["TrainingJobSummaries"]]
