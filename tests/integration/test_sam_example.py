"""The example of examples/ml-functions, end to end on a node: deployed with ``headwater deploy``, a raw upload
is cleaned into ``datasets/<name>/train/``, which trains a model; the job's completion event registers it; the
nightly schedule's function retrains it."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from infra.cli.deploy import deploy_session
from tests.integration.functions_support import call
from tests.support import wait_for, wait_for_job

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ml-functions" / "template.yaml"
DATASET = "story"


def raw_csv(rows: int = 80) -> tuple[bytes, int]:
    """A regression CSV (label first, no header) with two incomplete rows; the bytes and the complete rows."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 3))
    y = x @ np.array([0.5, 1.5, -1.0]) + 0.05 * rng.normal(size=rows)
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    return (buf.getvalue() + "1.0,,2.0,3.0\n0.5,1.0,2.0,\n").encode(), rows


def test_example_story(node: Any) -> None:
    overrides = {"DataBucket": node.settings.data_bucket, "EventBusName": node.settings.event_bus,
                 "Threshold": "1000", "NightlyDataset": DATASET}

    async def deploy() -> Any:
        async with deploy_session(node.settings, out=lambda line: None) as session:
            return await session.deploy(EXAMPLE, "ml-functions", overrides)

    result = asyncio.run(deploy())
    ids = {lid: p for change, _, lid, p in result.changes if change == "created"}
    assert {"Uploads", "CleanFunction", "RegisterFunction", "RetrainFunction", "RegisterFunctionTrainingCompleted",
            "RetrainFunctionNightly", "Uploads.NotificationConfiguration"} <= set(ids)
    s3, sm, lam, events = (node.client(s) for s in ("s3", "sagemaker", "lambda", "events"))

    body, complete = raw_csv()
    s3.put_object(Bucket=ids["Uploads"], Key=f"raw/{DATASET}/part.csv", Body=body)
    key = f"datasets/{DATASET}/train/part.csv"
    wait_for(lambda: s3.list_objects_v2(Bucket=node.settings.data_bucket, Prefix=key).get("KeyCount"), 60,
             what="the clean function to write the training data")
    cleaned = s3.get_object(Bucket=node.settings.data_bucket, Key=key)["Body"].read().decode().splitlines()
    assert len(cleaned) == complete

    def trained() -> str | None:
        jobs = sm.list_training_jobs(NameContains=DATASET)["TrainingJobSummaries"]
        return jobs[0]["TrainingJobName"] if jobs else None

    job = wait_for(trained, 60, what="the upload convention to start a training job")
    assert wait_for_job(sm, job)["TrainingJobStatus"] == "Completed"

    def registered() -> list[dict[str, Any]]:
        try:
            return sm.list_model_packages(ModelPackageGroupName="cleaned-models")["ModelPackageSummaryList"]
        except sm.exceptions.ClientError:
            return []

    (package,) = wait_for(registered, 60, what="the completion event to register the model")
    described = sm.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    assert described["CustomerMetadataProperties"]["TrainingJobName"] == job

    # The nightly schedule runs the retrain function with its target's Input: run it so, now.
    (target,) = events.list_targets_by_rule(Rule=ids["RetrainFunctionNightly"])["Targets"]
    assert events.describe_rule(Name=ids["RetrainFunctionNightly"])["ScheduleExpression"] == "cron(0 2 * * ? *)"
    resp, out = call(lam, ids["RetrainFunction"], json.loads(target["Input"]))
    assert "FunctionError" not in resp, out
    assert out["started"].startswith(f"{DATASET}-nightly-")
    assert wait_for_job(sm, out["started"])["TrainingJobStatus"] == "Completed"
