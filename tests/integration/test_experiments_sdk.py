"""SageMaker Experiments with the SDK v2, unchanged: a ``Run`` logging from the user's process and, through
``load_run()``, from inside the training job started in it; read back with ``ExperimentAnalytics`` and
``Search``. The SDK reaches the metrics service through ``AWS_ENDPOINT_URL_SAGEMAKER_METRICS``, as
``headwater env`` exports it; the job's code gets the same endpoints from the node."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import sagemaker
from sagemaker.analytics import ExperimentAnalytics  # noqa: E402 - a dev dependency: its absence must fail
from sagemaker.experiments.run import Run, list_runs  # noqa: E402
from sagemaker.sklearn import SKLearn  # noqa: E402

from infra.demo.datasets import to_csv
from tests.sdk_env import ROLE, sdk_environment, sdk_session
from tests.support import NodeThread

pytestmark = pytest.mark.sdk

SCRIPTS = Path(__file__).parent / "scripts"
ARTIFACTS = "headwater-artifacts"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sdk-home")


@pytest.fixture(scope="module")
def env(node: NodeThread, home: Path) -> Iterator[None]:
    with sdk_environment(node, home):
        yield


@pytest.fixture(scope="module")
def no_telemetry(env: None) -> Iterator[list[str]]:
    """Every telemetry request the SDK would have sent from this process (there must be none)."""
    from sagemaker.telemetry import telemetry_logging

    sent: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(telemetry_logging, "_requests_helper", lambda url, timeout: sent.append(url))
        yield sent


@pytest.fixture(scope="module")
def train_uri(env: None) -> str:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] > 0).astype(int)
    boto3.client("s3").put_object(Bucket="headwater-data", Key="sdk-exp/train/part-0.csv", Body=to_csv(X, y))
    return "s3://headwater-data/sdk-exp/train/"


def test_run_logs_from_the_process_and_from_its_training_job(
        node: NodeThread, home: Path, train_uri: str, no_telemetry: list[str], tmp_path: Path) -> None:
    sess = sdk_session(ARTIFACTS)
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SCRIPTS / "experiment_train.py", src / "experiment_train.py")
    # As AWS's examples do: the script's load_run() needs the SDK, which the framework image does not hold.
    (src / "requirements.txt").write_text(f"sagemaker=={sagemaker.__version__}\n")
    estimator = SKLearn(entry_point="experiment_train.py", source_dir=str(src), framework_version="1.2-1",
                        instance_type="ml.m5.large", instance_count=1, role=ROLE, sagemaker_session=sess,
                        output_path=f"s3://{ARTIFACTS}/sdk-exp",
                        # the job's SDK reads the same opt-out as this process's
                        environment={"SAGEMAKER_USER_CONFIG_OVERRIDE": str(home / "sagemaker-config.yaml")})
    with Run(experiment_name="sdk-exp", run_name="run-1", sagemaker_session=sess) as run:
        run.log_parameter("lr", 0.1)
        run.log_parameters({"optimizer": "adam", "epochs": 3})
        for step, loss in enumerate([0.9, 0.5, 0.4]):
            run.log_metric("loss", loss, step=step)
        run.log_artifact("dataset", train_uri, media_type="text/csv", is_output=False)
        estimator.fit({"train": train_uri}, wait=True, logs=False)  # in the run: the job gets its ExperimentConfig
    job = estimator.latest_training_job.describe()
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ExperimentConfig"] == {"ExperimentName": "sdk-exp", "TrialName": "Default-Run-Group-sdk-exp",
                                       "RunName": "sdk-exp-run-1"}

    sm = node.client("sagemaker")
    d = sm.describe_trial_component(TrialComponentName="sdk-exp-run-1")
    assert d["Status"]["PrimaryStatus"] == "Completed"
    assert d["Parameters"] == {"lr": {"NumberValue": 0.1}, "optimizer": {"StringValue": "adam"},
                               "epochs": {"NumberValue": 3.0}, "job_max_iter": {"NumberValue": 50.0}}
    assert d["InputArtifacts"] == {"dataset": {"Value": train_uri, "MediaType": "text/csv"}}
    metrics = {m["MetricName"]: m for m in d["Metrics"]}
    assert (metrics["loss"]["Count"], metrics["loss"]["Min"], metrics["loss"]["Last"]) == (3, 0.4, 0.4)
    assert (metrics["job_loss"]["Count"], metrics["job_loss"]["Max"]) == (3, 1.0)
    assert metrics["job_accuracy"]["Last"] > 0.8

    frame = ExperimentAnalytics(experiment_name="sdk-exp", sagemaker_session=sess).dataframe()
    rows = {r["TrialComponentName"]: r for r in frame.to_dict("records")}
    job_component = f"{job['TrainingJobName']}-aws-training-job"
    assert set(rows) == {"sdk-exp-run-1", job_component}
    row: dict[str, Any] = rows["sdk-exp-run-1"]
    assert (row["lr"], row["optimizer"], row["job_max_iter"]) == (0.1, "adam", 50.0)
    assert (row["loss - Min"], row["loss - Max"], row["loss - Count"]) == (0.4, 0.9, 3)
    assert row["job_loss - Last"] == pytest.approx(1 / 3)
    assert row["dataset - Value"] == train_uri
    assert row["Experiments"] == ["sdk-exp"] and row["Trials"] == ["Default-Run-Group-sdk-exp"]
    assert rows[job_component]["SourceArn"] == job["TrainingJobArn"]

    found = sm.search(Resource="ExperimentTrialComponent", SearchExpression={"Filters": [
        {"Name": "Parents.ExperimentName", "Value": "sdk-exp"},
        {"Name": "Parameters.lr", "Operator": "LessThan", "Value": "0.5"}]})["Results"]
    assert [r["TrialComponent"]["TrialComponentName"] for r in found] == ["sdk-exp-run-1"]
    assert {"Key": "sagemaker:trial-component-source", "Value": "run"} in found[0]["TrialComponent"]["Tags"]
    assert [r.run_name for r in list_runs(experiment_name="sdk-exp", sagemaker_session=sess)] == ["run-1"]
    assert no_telemetry == []
