"""Batch transform on a real node: the built-in XGBoost model over S3 files."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from infra.demo.datasets import make_churn, to_csv
from tests.support import NodeThread, wait_for

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "headwater-data"


@pytest.fixture(scope="module")
def model(node: NodeThread) -> dict[str, Any]:
    """A trained XGBoost model registered with CreateModel, and the booster itself."""
    s3, sm = node.client("s3"), node.client("sagemaker")
    X, y = make_churn(800, seed=9)
    s3.put_object(Bucket=BUCKET, Key="tf/train/a.csv", Body=to_csv(X, y))
    sm.create_training_job(
        TrainingJobName="tf-train", RoleArn="arn:aws:iam::123456789012:role/r",
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"num_round": "10", "objective": "binary:logistic", "max_depth": "3"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/tf/train/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/tf"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300})
    desc = wait_for(lambda: (d := sm.describe_training_job(TrainingJobName="tf-train"))["TrainingJobStatus"]
                    in ("Completed", "Failed") and d, timeout=120, what="training")
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    artifact = desc["ModelArtifacts"]["S3ModelArtifacts"]
    sm.create_model(ModelName="tf-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": artifact})
    body = s3.get_object(Bucket="headwater-artifacts", Key=artifact.split("/", 3)[3])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        raw = tar.extractfile("xgboost-model").read()  # type: ignore[union-attr]
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return {"booster": booster}


def _job(name: str, uri: str, out: str, **extra: Any) -> dict[str, Any]:
    return {"TransformJobName": name, "ModelName": "tf-model",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
                               "ContentType": "text/csv", "SplitType": "Line"},
            "TransformOutput": {"S3OutputPath": out, "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}, **extra}


def _wait(sm: Any, name: str) -> dict[str, Any]:
    return wait_for(lambda: (d := sm.describe_transform_job(TransformJobName=name))["TransformJobStatus"]
                    in ("Completed", "Failed", "Stopped") and d, timeout=120, what=f"transform {name}")


def test_multi_record_with_join_and_filters_matches_in_process_predictions(node: NodeThread,
                                                                          model: dict[str, Any]) -> None:
    s3, sm = node.client("s3"), node.client("sagemaker")
    X, _ = make_churn(3000, seed=21)
    ids = np.arange(len(X))
    rows = "".join(f"id-{i}," + ",".join(f"{v:.10g}" for v in x) + "\n" for i, x in zip(ids, X))
    s3.put_object(Bucket=BUCKET, Key="tf/in/part-1.csv", Body=rows.encode())
    s3.put_object(Bucket=BUCKET, Key="tf/in/nested/part-2.csv", Body=rows[: len(rows) // 3].encode().rsplit(b"\n", 1)[0] + b"\n")
    sm.create_transform_job(**_job(
        "tf-join", f"s3://{BUCKET}/tf/in/", "s3://headwater-artifacts/tf-out/join",
        BatchStrategy="MultiRecord", MaxPayloadInMB=1, MaxConcurrentTransforms=2,
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}))
    d = _wait(sm, "tf-join")
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    assert d["TransformStartTime"] <= d["TransformEndTime"]
    out = s3.get_object(Bucket="headwater-artifacts", Key="tf-out/join/part-1.csv.out")["Body"].read().decode()
    lines = out.splitlines()
    assert len(lines) == len(X)  # one line per record, in input order, across several 1 MB batches
    got_ids = [line.split(",")[0] for line in lines]
    assert got_ids == [f"id-{i}" for i in ids]
    expected = model["booster"].predict(xgb.DMatrix(X.astype(np.float32)))
    got = np.array([float(line.split(",")[1]) for line in lines])
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    nested = s3.get_object(Bucket="headwater-artifacts", Key="tf-out/join/nested/part-2.csv.out")["Body"].read()
    assert nested.decode().splitlines()[0].startswith("id-0,")


def test_single_record_gzip_input(node: NodeThread, model: dict[str, Any]) -> None:
    s3, sm = node.client("s3"), node.client("sagemaker")
    X, _ = make_churn(20, seed=3)
    body = "".join(",".join(f"{v:.10g}" for v in x) + "\n" for x in X).encode()
    s3.put_object(Bucket=BUCKET, Key="tf/gz/a.csv.gz", Body=gzip.compress(body))
    job = _job("tf-gzip", f"s3://{BUCKET}/tf/gz/", "s3://headwater-artifacts/tf-out/gz", BatchStrategy="SingleRecord")
    job["TransformInput"]["CompressionType"] = "Gzip"
    sm.create_transform_job(**job)
    d = _wait(sm, "tf-gzip")
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    out = s3.get_object(Bucket="headwater-artifacts", Key="tf-out/gz/a.csv.gz.out")["Body"].read().decode()
    np.testing.assert_allclose([float(v) for v in out.split()],
                               model["booster"].predict(xgb.DMatrix(X.astype(np.float32))), rtol=1e-5)


def test_a_bad_record_fails_the_job_naming_file_and_record(node: NodeThread, model: dict[str, Any]) -> None:
    s3, sm = node.client("s3"), node.client("sagemaker")
    X, _ = make_churn(10, seed=4)
    lines = [",".join(f"{v:.10g}" for v in x) for x in X]
    lines[6] = "1,2,not-a-number,4,5,6,7,8,9"
    s3.put_object(Bucket=BUCKET, Key="tf/bad/x.csv", Body=("\n".join(lines) + "\n").encode())
    sm.create_transform_job(**_job("tf-bad", f"s3://{BUCKET}/tf/bad/", "s3://headwater-artifacts/tf-out/bad",
                                   BatchStrategy="SingleRecord"))
    d = _wait(sm, "tf-bad")
    assert d["TransformJobStatus"] == "Failed"
    assert "s3://headwater-data/tf/bad/x.csv" in d["FailureReason"] and "record 7" in d["FailureReason"]
    with pytest.raises(ClientError):  # no partial output
        s3.head_object(Bucket="headwater-artifacts", Key="tf-out/bad/x.csv.out")


def test_api_errors_listing_and_events(node: NodeThread, model: dict[str, Any]) -> None:
    sm, sqs, eb = node.client("sagemaker"), node.client("sqs"), node.client("events")
    with pytest.raises(ClientError) as err:
        sm.create_transform_job(**{**_job("tf-nomodel", f"s3://{BUCKET}/tf/gz/", "s3://headwater-artifacts/x"),
                                   "ModelName": "missing"})
    assert err.value.response["Error"]["Code"] == "ValidationException" and "Could not find model" in str(err.value)
    with pytest.raises(ClientError) as err:
        sm.describe_transform_job(TransformJobName="nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    url = sqs.create_queue(QueueName="tf-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    eb.put_rule(Name="tf-events", EventBusName="headwater", EventPattern=json.dumps(
        {"source": ["headwater.sagemaker"], "detail-type": ["SageMaker Transform Job State Change"]}))
    eb.put_targets(Rule="tf-events", EventBusName="headwater", Targets=[{"Id": "q", "Arn": arn}])
    sm.create_transform_job(**_job("tf-events-job", f"s3://{BUCKET}/tf/gz/", "s3://headwater-artifacts/tf-out/ev",
                                   BatchStrategy="SingleRecord",
                                   TransformInput={"DataSource": {"S3DataSource": {
                                       "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/tf/gz/"}},
                                       "ContentType": "text/csv", "SplitType": "Line", "CompressionType": "Gzip"}))
    assert _wait(sm, "tf-events-job")["TransformJobStatus"] == "Completed"
    statuses: list[str] = []

    def received() -> bool:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            statuses.append(json.loads(m["Body"])["detail"]["TransformJobStatus"])
        return "Completed" in statuses

    wait_for(received, timeout=20, what="transform events")
    assert statuses[0] == "InProgress" and statuses[-1] == "Completed"
    names = [j["TransformJobName"] for j in sm.list_transform_jobs(StatusEquals="Completed",
                                                                   SortBy="Name")["TransformJobSummaries"]]
    assert "tf-events-job" in names and names == sorted(names)


def test_sdk_transformer_unchanged(node: NodeThread, model: dict[str, Any], tmp_path: Any) -> None:
    """``sagemaker.transformer.Transformer(...).transform(...)`` with SDK code as written for SageMaker."""
    from sagemaker.transformer import Transformer

    from tests.sdk_env import sdk_environment, sdk_session

    s3 = node.client("s3")
    X, _ = make_churn(50, seed=8)
    s3.put_object(Bucket=BUCKET, Key="tf/sdk/in.csv",
                  Body="".join(",".join(f"{v:.10g}" for v in x) + "\n" for x in X).encode())
    with sdk_environment(node, tmp_path):
        transformer = Transformer(model_name="tf-model", instance_count=1, instance_type="ml.m5.large",
                                  strategy="MultiRecord", assemble_with="Line",
                                  output_path="s3://headwater-artifacts/tf-out/sdk",
                                  sagemaker_session=sdk_session("headwater-artifacts"))
        transformer.transform(f"s3://{BUCKET}/tf/sdk/", content_type="text/csv", split_type="Line",
                              job_name="tf-sdk", wait=True, logs=False)
        assert transformer.sagemaker_session.describe_transform_job("tf-sdk")["TransformJobStatus"] == "Completed"
    out = s3.get_object(Bucket="headwater-artifacts", Key="tf-out/sdk/in.csv.out")["Body"].read().decode()
    np.testing.assert_allclose([float(v) for v in out.split()],
                               model["booster"].predict(xgb.DMatrix(X.astype(np.float32))), rtol=1e-5)
