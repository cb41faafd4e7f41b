"""The SageMaker Python SDK v2, unchanged, against a Headwater node.

The SDK finds Headwater through the standard endpoint variables
(``AWS_ENDPOINT_URL`` for S3 and CloudWatch Logs on the emulator,
``AWS_ENDPOINT_URL_SAGEMAKER`` for the control plane) with dummy
credentials; its telemetry is opted out with a config file named by
``SAGEMAKER_USER_CONFIG_OVERRIDE``. A built-in XGBoost ``Estimator`` must
train to completion, stream the container's log and point ``model_data``
at the artifact in S3.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
import sagemaker  # noqa: E402 - a dev dependency: its absence must fail, not skip
from sagemaker.estimator import Estimator  # noqa: E402
from sagemaker.inputs import TrainingInput  # noqa: E402

from services.runners.images import resolve_image
from tests.support import wait_for_job

pytestmark = pytest.mark.sdk

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/headwater-sdk"
DATA_BUCKET = "headwater-data"
ARTIFACTS_BUCKET = "headwater-artifacts"
NUM_ROUND = 3
# The operations this node serves (services/api/sagemaker_ops.py).
SERVED = {"CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob", "AddTags", "ListTags",
          "DeleteTags"}
TELEMETRY_OPT_OUT = """\
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
"""


def _csv(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=rows)
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def sdk_env(node: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[pytest.MonkeyPatch]:
    """The environment a user exports to point unchanged SDK code at Headwater."""
    home = tmp_path_factory.mktemp("sdk-home")
    config = home / "sagemaker-config.yaml"
    config.write_text(TELEMETRY_OPT_OUT)
    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
        mp.setenv("AWS_ENDPOINT_URL", node.endpoints["aws"])
        mp.setenv("AWS_ENDPOINT_URL_SAGEMAKER", node.endpoints["sagemaker"])
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        mp.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
        mp.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
        yield mp


@pytest.fixture(scope="module")
def no_telemetry(sdk_env: pytest.MonkeyPatch) -> list[str]:
    """Every telemetry request the SDK would have sent (there must be none)."""
    from sagemaker.telemetry import telemetry_logging

    sent: list[str] = []
    sdk_env.setattr(telemetry_logging, "_requests_helper", lambda url, timeout: sent.append(url))
    return sent


@pytest.fixture(scope="module")
def channels(node: Any, sdk_env: pytest.MonkeyPatch) -> dict[str, TrainingInput]:
    s3 = boto3.client("s3")  # from the environment alone
    s3.put_object(Bucket=DATA_BUCKET, Key="sdk/train/part-0.csv", Body=_csv(150, 1))
    s3.put_object(Bucket=DATA_BUCKET, Key="sdk/validation/part-0.csv", Body=_csv(50, 2))
    return {
        "train": TrainingInput(f"s3://{DATA_BUCKET}/sdk/train/", content_type="text/csv"),
        "validation": TrainingInput(f"s3://{DATA_BUCKET}/sdk/validation/", content_type="text/csv"),
    }


def _recorded_session(**kwargs: Any) -> tuple[Any, list[str]]:
    """A ``sagemaker.Session`` whose SageMaker API calls are recorded by operation name."""
    calls: list[str] = []
    boto_session = boto3.Session(region_name=REGION)
    boto_session.events.register("before-call.sagemaker", lambda model, **_: calls.append(model.name))
    sess = sagemaker.Session(boto_session=boto_session, default_bucket=ARTIFACTS_BUCKET, **kwargs)
    if "sagemaker_client" in kwargs:
        kwargs["sagemaker_client"].meta.events.register(
            "before-call.sagemaker", lambda model, **_: calls.append(model.name))
    return sess, calls


def _xgboost_estimator(sess: Any, output_path: str) -> Estimator:
    return Estimator(
        image_uri=sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1"),
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=output_path,
        hyperparameters={"num_round": NUM_ROUND, "objective": "reg:squarederror", "max_depth": 3, "eta": 0.3},
        sagemaker_session=sess,
    )


def _s3_object(uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


# --------------------------------------------------------------------------- tests


def test_image_uris_retrieve_resolves(sdk_env: pytest.MonkeyPatch) -> None:
    uri = sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1")
    assert uri == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    image = resolve_image(uri)
    assert image is not None and image.name == "xgboost"
    # Other regions use other accounts; Headwater matches the repository name.
    other = sagemaker.image_uris.retrieve("xgboost", "eu-west-1", "1.7-1")
    assert other != uri and other.endswith("/sagemaker-xgboost:1.7-1")
    assert resolve_image(other) == image


def test_telemetry_opt_out_is_applied(sdk_env: pytest.MonkeyPatch) -> None:
    from sagemaker.config import load_sagemaker_config

    config = load_sagemaker_config()
    assert config["SageMaker"]["PythonSDK"]["Modules"]["TelemetryOptOut"] is True


def test_estimator_fit_with_endpoints_from_environment(
        node: Any, channels: dict[str, TrainingInput], no_telemetry: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    sess, calls = _recorded_session()
    assert sess.sagemaker_client.meta.endpoint_url == node.endpoints["sagemaker"]
    assert sess.boto_session.client("logs").meta.endpoint_url == node.endpoints["aws"]
    output_path = f"s3://{ARTIFACTS_BUCKET}/sdk-env"
    estimator = _xgboost_estimator(sess, output_path)

    estimator.fit(channels, wait=True, logs=True)

    job = estimator.latest_training_job
    name = job.name
    assert name.startswith("sagemaker-xgboost-")
    described = job.describe()
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Completed", "Completed")
    assert described["HyperParameters"] == {"num_round": str(NUM_ROUND), "objective": "reg:squarederror",
                                            "max_depth": "3", "eta": "0.3"}
    assert [c["ChannelName"] for c in described["InputDataConfig"]] == ["train", "validation"]
    assert all(c["ContentType"] == "text/csv" for c in described["InputDataConfig"])

    assert estimator.model_data == f"{output_path}/{name}/output/model.tar.gz"
    assert estimator.model_data == described["ModelArtifacts"]["S3ModelArtifacts"]
    with tarfile.open(fileobj=io.BytesIO(_s3_object(estimator.model_data)), mode="r:gz") as tar:
        assert "xgboost-model" in tar.getnames()

    out = capsys.readouterr().out
    # The SDK's status lines, from SecondaryStatusTransitions...
    for status in ("Starting", "Downloading", "Training", "Uploading", "Completed"):
        assert re.search(rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {status} - ", out, re.M), status
    # ...the container's own lines, streamed from CloudWatch Logs...
    assert "XGBoost " in out and "num_round 3" in out
    assert "Channel 'train': 150 rows, 3 feature columns" in out
    assert len(re.findall(r"^\[\d+\]#011train-rmse:[0-9.]+#011validation-rmse:[0-9.]+$", out, re.M)) == NUM_ROUND
    assert "Training succeeded." in out
    # ...and its billing summary.
    assert re.search(r"^Training seconds: \d+$", out, re.M)
    assert re.search(r"^Billable seconds: \d+$", out, re.M)

    # Everything the SDK asked of the control plane is served here.
    assert set(calls) <= SERVED, set(calls) - SERVED
    assert "CreateTrainingJob" in calls and "DescribeTrainingJob" in calls
    assert no_telemetry == []


def test_estimator_fit_with_explicit_sagemaker_client(
        node: Any, sdk_env: pytest.MonkeyPatch, channels: dict[str, TrainingInput], no_telemetry: list[str]) -> None:
    sdk_env.delenv("AWS_ENDPOINT_URL_SAGEMAKER")
    try:
        client = node.client("sagemaker")
        sess, calls = _recorded_session(sagemaker_client=client)
        assert sess.sagemaker_client is client
        output_path = f"s3://{ARTIFACTS_BUCKET}/sdk-explicit"
        estimator = _xgboost_estimator(sess, output_path)
        estimator.fit(channels, wait=False)
        name = estimator.latest_training_job.name
        # (polled here rather than with the SDK's wait, which sleeps 5 s between polls)
        assert wait_for_job(client, name, timeout=60)["TrainingJobStatus"] == "Completed"
        assert estimator.latest_training_job.describe()["TrainingJobStatus"] == "Completed"
    finally:
        sdk_env.setenv("AWS_ENDPOINT_URL_SAGEMAKER", node.endpoints["sagemaker"])
    assert estimator.model_data == f"{output_path}/{name}/output/model.tar.gz"
    assert _s3_object(estimator.model_data)[:2] == b"\x1f\x8b"
    assert set(calls) <= SERVED
    assert no_telemetry == []
    # The job is listed like any other.
    listed = client.list_training_jobs(NameContains=name)["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in listed] == [name]


def test_estimator_attach_to_finished_job(channels: dict[str, TrainingInput], no_telemetry: list[str]) -> None:
    """Attaching to a job by name (e.g. after a notebook restart) rebuilds the estimator from Describe."""
    sm = boto3.client("sagemaker")
    name = "sdk-attach-me"
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1"),
                                "TrainingInputMode": "File"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": channels["train"].config["DataSource"]["S3DataSource"]["S3Uri"]}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACTS_BUCKET}/sdk-attach"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        HyperParameters={"num_round": str(NUM_ROUND)})
    assert wait_for_job(sm, name, timeout=60)["TrainingJobStatus"] == "Completed"
    sess, calls = _recorded_session()

    attached = Estimator.attach(name, sagemaker_session=sess)

    assert attached.latest_training_job.name == name
    assert attached.model_data == f"s3://{ARTIFACTS_BUCKET}/sdk-attach/{name}/output/model.tar.gz"
    assert attached.hyperparameters()["num_round"] == str(NUM_ROUND)
    assert set(calls) <= SERVED
