"""XGBoost training behaves the same under the process runner and in a real container.

Every test runs once per runner (the ``runner_node`` fixture): a completed
job's model, log and metrics; bad input failing with the file and line;
StopTrainingJob; MaxRuntimeInSeconds; and, at the runner level, SIGTERM
escalating to SIGKILL for a container that ignores it.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from services.runners import make_runner
from services.runners.base import RunSpec
from services.runners.images import resolve_image
from tests.support import NodeThread, wait_for, wait_for_job

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/headwater"
SLOW_HPS = {"num_round": "100000", "objective": "reg:squarederror", "max_depth": "10", "eta": "0.01",
            "num_parallel_tree": "20", "tree_method": "exact", "nthread": "1"}


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, 3 * X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=n)


def _csv(X: np.ndarray, y: np.ndarray) -> bytes:
    return "".join(",".join(f"{v:.6f}" for v in (label, *row)) + "\n" for label, row in zip(y, X)).encode()


def _put(node: NodeThread, key: str, body: bytes) -> str:
    node.client("s3").put_object(Bucket=node.settings.data_bucket, Key=key, Body=body)
    return f"s3://{node.settings.data_bucket}/{key.rsplit('/', 1)[0]}/"


def _start(node: NodeThread, name: str, channels: dict[str, str], hps: dict[str, str],
           max_runtime: int = 600, content_type: str = "text/csv") -> None:
    node.client("sagemaker").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        InputDataConfig=[{"ChannelName": ch, "ContentType": content_type, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}}}
            for ch, uri in channels.items()],
        OutputDataConfig={"S3OutputPath": f"s3://{node.settings.artifacts_bucket}/runners"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": max_runtime},
        HyperParameters=hps)


def _log(node: NodeThread, name: str) -> list[str]:
    events = node.client("logs").filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                                   logStreamNamePrefix=f"{name}/")["events"]
    return [e["message"] for e in events]


def test_completed_job_uploads_a_model_that_predicts(runner_node: NodeThread, tmp_path: Path) -> None:
    runner = runner_node.settings.runner
    name = f"ok-{runner}"
    X, y = _rows(400, 1)
    Xv, yv = _rows(100, 2)
    _start(runner_node, name, {"train": _put(runner_node, f"{name}/train/a.csv", _csv(X, y)),
                               "validation": _put(runner_node, f"{name}/validation/a.csv", _csv(Xv, yv))},
           {"num_round": "40", "max_depth": "3", "eval_metric": "rmse", "early_stopping_rounds": "5"})
    d = wait_for_job(runner_node.client("sagemaker"), name, timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    lines = _log(runner_node, name)
    # the docker runner really ran a container, the process runner a child process
    started = next(line for line in lines if line.startswith("Headwater: started"))
    assert ("(container " in started) == (runner == "docker"), started
    assert any("validation-rmse:" in line for line in lines)
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert metrics["validation:rmse"] < np.std(yv)
    bucket, key = d["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    body = runner_node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        tar.extract("xgboost-model", tmp_path, filter="data")
    booster = xgb.Booster(model_file=str(tmp_path / "xgboost-model"))
    predicted = booster.predict(xgb.DMatrix(Xv))
    assert np.sqrt(np.mean((predicted - yv) ** 2)) < 0.5 * np.std(yv)


def test_bad_input_fails_naming_file_and_line(runner_node: NodeThread) -> None:
    name = f"bad-{runner_node.settings.runner}"
    X, y = _rows(30, 3)
    body = _csv(X, y) + b"1.0,2.0,oops,3.0,4.0\n"
    _start(runner_node, name, {"train": _put(runner_node, f"{name}/train/data.csv", body)}, {"num_round": "5"})
    d = wait_for_job(runner_node.client("sagemaker"), name, timeout=120)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Failed", "Failed")
    for part in ("train/data.csv", "line 31", "oops"):
        assert part in d["FailureReason"], d["FailureReason"]


def _slow_job(node: NodeThread, name: str, max_runtime: int = 600) -> None:
    X, y = _rows(3000, 4)
    _start(node, name, {"train": _put(node, f"{name}/train/a.csv", _csv(X, y))}, SLOW_HPS, max_runtime)


def test_stop_training_job_stops_the_container(runner_node: NodeThread) -> None:
    sm = runner_node.client("sagemaker")
    name = f"stop-{runner_node.settings.runner}"
    _slow_job(runner_node, name)
    wait_for(lambda: any(line.startswith("[0]") for line in _log(runner_node, name)), timeout=90,
             what="the first training round in the log")
    sm.stop_training_job(TrainingJobName=name)
    d = wait_for_job(sm, name, timeout=60)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert "FailureReason" not in d


def test_max_runtime_stops_the_container(runner_node: NodeThread) -> None:
    name = f"maxrt-{runner_node.settings.runner}"
    _slow_job(runner_node, name, max_runtime=3)
    d = wait_for_job(runner_node.client("sagemaker"), name, timeout=90)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert d["TrainingTimeInSeconds"] >= 3


IGNORES_SIGTERM = ("import signal, time\n"
                   "signal.signal(signal.SIGTERM, lambda *a: print('ignoring SIGTERM', flush=True))\n"
                   "print('ready', flush=True)\n"
                   "time.sleep(600)\n")


@pytest.mark.parametrize("kind", ["process", "docker"])
async def test_sigterm_then_sigkill(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if kind == "docker":
        request.getfixturevalue("images")
    image = resolve_image(IMAGE)
    assert image is not None
    python = sys.executable if kind == "process" else "python3"
    runner = make_runner(kind)
    spec = RunSpec(name=f"sigkill-{kind}-{int(time.time())}", image=image, command=[], ml_root=tmp_path,
                   entrypoint=[python, "-c", IGNORES_SIGTERM])
    container = await runner.start(spec)
    lines: list[str] = []

    async def read() -> None:
        async for line in container.lines():
            lines.append(line)

    reader = asyncio.create_task(read())
    waiter = asyncio.create_task(container.wait())
    deadline = time.monotonic() + 60
    while "ready" not in lines and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert "ready" in lines
    await container.terminate()
    while "ignoring SIGTERM" not in lines and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not waiter.done()  # it chose to ignore SIGTERM
    await container.kill()
    assert await asyncio.wait_for(waiter, 60) == -9
    await asyncio.wait_for(reader, 30)
