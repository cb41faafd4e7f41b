"""The SageMaker control plane as a boto3 user meets it.

Every call goes through boto3's own ``sagemaker`` client, which validates
requests against the service model and parses the responses, so what is
asserted here is what ``describe_training_job`` and friends hand a user:
statuses and their transitions, the model artifact in S3, listing with
filters, sorting and pagination, stopping, the errors, the CloudWatch log
stream and the state-change events on the ``headwater`` bus.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import numpy as np
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support import CREDS, wait_for, wait_for_job

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/headwater-it"
DATA_BUCKET = "headwater-data"
OUTPUT_PATH = "s3://headwater-artifacts/it-control-plane"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# The metric definition the SageMaker SDK ships for XGBoost's validation RMSE.
SDK_VALIDATION_RMSE = (r".*\[[0-9]+\].*#011validation-rmse:"
                       r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*")
NUM_ROUND = 4
DETAIL_TYPE = "SageMaker Training Job State Change"


# --------------------------------------------------------------------------- helpers


def _csv(rows: int, cols: int, seed: int) -> bytes:
    """Regression data: label first, no header."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, cols))
    y = x @ rng.normal(size=cols) + 0.1 * rng.normal(size=rows)
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    return buf.getvalue().encode()


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {"ChannelName": name, "ContentType": "text/csv",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                            "S3DataDistributionType": "FullyReplicated"}}}


def job_request(name: str, *, prefix: str = "it/small", hyperparameters: dict[str, str] | None = None,
                max_runtime: int = 600, validation: bool = True) -> dict[str, Any]:
    """A CreateTrainingJob request for the built-in XGBoost."""
    channels = [_channel("train", f"s3://{DATA_BUCKET}/{prefix}/train/")]
    if validation:
        channels.append(_channel("validation", f"s3://{DATA_BUCKET}/{prefix}/validation/"))
    hps = {"num_round": str(NUM_ROUND), "objective": "reg:squarederror", "max_depth": "3"}
    if hyperparameters is not None:
        hps = hyperparameters
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": OUTPUT_PATH},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
        "HyperParameters": hps,
    }


# Enough work per round (many deep trees on a few thousand rows) that a job
# runs for minutes unless it is stopped, while printing only a few lines a second.
SLOW_HPS = {"num_round": "100000", "objective": "reg:squarederror", "max_depth": "10", "eta": "0.01",
            "num_parallel_tree": "20", "tree_method": "exact", "nthread": "1"}


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def _wait_secondary(sm: Any, name: str, status: str, timeout: float = 60) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        d = sm.describe_training_job(TrainingJobName=name)
        return d if d["SecondaryStatus"] == status else None

    return wait_for(reached, timeout, what=f"{name} to reach {status}")


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def _assert_mirrors(detail: Any, described: Any, path: str = "detail") -> None:
    """``detail`` (an event's) equals ``described`` (boto3's parsed Describe), with
    datetimes as epoch milliseconds."""
    if isinstance(described, datetime):
        assert isinstance(detail, int), f"{path}: {detail!r} is not epoch millis"
        # Describe rounds to the millisecond, the event truncates: they may differ by one.
        assert abs(detail - _ms(described)) <= 1, f"{path}: {detail} != {_ms(described)}"
    elif isinstance(described, dict):
        assert isinstance(detail, dict), path
        assert set(detail) == set(described), f"{path}: {sorted(detail)} != {sorted(described)}"
        for key, value in described.items():
            _assert_mirrors(detail[key], value, f"{path}.{key}")
    elif isinstance(described, list):
        assert isinstance(detail, list) and len(detail) == len(described), path
        for i, (a, b) in enumerate(zip(detail, described)):
            _assert_mirrors(a, b, f"{path}[{i}]")
    else:
        assert detail == described, f"{path}: {detail!r} != {described!r}"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sm(node: Any) -> Any:
    return node.client("sagemaker")


@pytest.fixture(scope="module")
def s3(node: Any) -> Any:
    return node.client("s3")


@pytest.fixture(scope="module")
def datasets(s3: Any) -> None:
    """Small data for quick jobs, bigger data for jobs that must run long."""
    s3.put_object(Bucket=DATA_BUCKET, Key="it/small/train/part-0.csv", Body=_csv(120, 4, 1))
    s3.put_object(Bucket=DATA_BUCKET, Key="it/small/validation/part-0.csv", Body=_csv(40, 4, 2))
    s3.put_object(Bucket=DATA_BUCKET, Key="it/slow/train/part-0.csv", Body=_csv(3000, 20, 3))


@pytest.fixture(scope="module")
def state_changes(node: Any) -> Any:
    """An extra queue with a rule on the ``headwater`` bus for training state changes.

    Created before any job so that it sees every event of the module's jobs.
    """
    sqs, events = node.client("sqs"), node.client("events")
    url = sqs.create_queue(QueueName="it-training-state-changes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="it-training-state-changes", EventBusName="headwater", State="ENABLED",
                    EventPattern=json.dumps({"source": ["headwater.sagemaker"], "detail-type": [DETAIL_TYPE]}))
    events.put_targets(Rule="it-training-state-changes", EventBusName="headwater",
                       Targets=[{"Id": "queue", "Arn": arn}])
    received: list[dict[str, Any]] = []

    def drain() -> list[dict[str, Any]]:
        while True:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not msgs:
                return received
            for m in msgs:
                received.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    return drain


@pytest.fixture(scope="module")
def completed(sm: Any, datasets: None, state_changes: Any) -> dict[str, Any]:
    """One job run to completion; its final DescribeTrainingJob."""
    sm.create_training_job(**job_request("cp-basic"))
    d = wait_for_job(sm, "cp-basic", timeout=90)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    return d


@pytest.fixture(scope="module")
def listed(sm: Any, datasets: None) -> list[dict[str, Any]]:
    """Four jobs named out of creation order, one of them failing; final Describes in creation order."""
    names = ["lst-charlie", "lst-alpha", "lst-delta-fails", "lst-bravo"]
    for name in names:
        hps = {"objective": "reg:squarederror"} if "fails" in name else {"num_round": "1"}
        sm.create_training_job(**job_request(name, hyperparameters=hps, validation=False))
        time.sleep(0.06)  # distinct creation times, well apart at millisecond precision
    return [wait_for_job(sm, n, timeout=90) for n in names]


# --------------------------------------------------------------------------- describe


def test_create_returns_arn_and_describe_starts_in_progress(sm: Any, datasets: None) -> None:
    arn = sm.create_training_job(**job_request("cp-fresh"))["TrainingJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:training-job/cp-fresh"
    d = sm.describe_training_job(TrainingJobName="cp-fresh")
    assert d["TrainingJobArn"] == arn
    assert d["TrainingJobStatus"] == "InProgress"  # the container alone takes over a second to start
    assert d["SecondaryStatusTransitions"][0]["Status"] == "Starting"
    assert d["SecondaryStatusTransitions"][0]["StartTime"] == d["CreationTime"]
    assert wait_for_job(sm, "cp-fresh", timeout=90)["TrainingJobStatus"] == "Completed"


def test_describe_completed_job(completed: dict[str, Any]) -> None:
    d = completed
    assert d["TrainingJobName"] == "cp-basic"
    assert d["TrainingJobArn"].endswith(":training-job/cp-basic")
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Completed", "Completed")
    assert "FailureReason" not in d
    # The request round-trips.
    req = job_request("cp-basic")
    for key in ("AlgorithmSpecification", "RoleArn", "ResourceConfig", "StoppingCondition",
                "HyperParameters", "InputDataConfig"):
        assert d[key] == req[key], key
    # SageMaker always returns KmsKeyId, "" when the request named no key.
    assert d["OutputDataConfig"] == {**req["OutputDataConfig"], "KmsKeyId": ""}
    # Times.
    assert d["CreationTime"] <= d["TrainingStartTime"] <= d["TrainingEndTime"] <= d["LastModifiedTime"]
    assert isinstance(d["TrainingTimeInSeconds"], int) and d["TrainingTimeInSeconds"] >= 1
    assert isinstance(d["BillableTimeInSeconds"], int) and 1 <= d["BillableTimeInSeconds"] <= d["TrainingTimeInSeconds"]
    wall = (d["TrainingEndTime"] - d["TrainingStartTime"]).total_seconds()
    assert d["TrainingTimeInSeconds"] <= max(1, round(wall) + 1)


def test_secondary_status_transitions(completed: dict[str, Any]) -> None:
    transitions = completed["SecondaryStatusTransitions"]
    assert [t["Status"] for t in transitions] == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    for t in transitions:
        assert t["StatusMessage"]
        assert isinstance(t["StartTime"], datetime)
    for before, after in zip(transitions, transitions[1:]):
        assert before["EndTime"] == after["StartTime"], (before, after)
        assert before["StartTime"] <= before["EndTime"]
    assert transitions[0]["StartTime"] == completed["CreationTime"]
    assert transitions[-1]["StartTime"] == completed["TrainingEndTime"]


def test_model_artifact_in_s3(completed: dict[str, Any], s3: Any) -> None:
    uri = completed["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri == f"{OUTPUT_PATH}/cp-basic/output/model.tar.gz"
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body[:2] == b"\x1f\x8b"  # gzip
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert "xgboost-model" in tar.getnames()
        model = tar.extractfile("xgboost-model")
        assert model is not None
        booster = json.loads(model.read())  # saved as XGBoost JSON
    assert int(booster["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"]) == NUM_ROUND


def test_container_entrypoint_and_arguments_run_instead_of_the_image(sm: Any, s3: Any, datasets: None) -> None:
    """``ContainerEntrypoint`` replaces the image's entrypoint and ``ContainerArguments`` are its arguments;
    an argument naming ``/opt/ml`` reaches the job's own tree."""
    name = "cp-entrypoint"
    request = job_request(name, validation=False)
    request["AlgorithmSpecification"].update(
        ContainerEntrypoint=["python3", "-c", "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"],
        ContainerArguments=["/opt/ml/model/marker.txt", "written by the entrypoint"])
    sm.create_training_job(**request)
    d = wait_for_job(sm, name, timeout=90)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["AlgorithmSpecification"]["ContainerArguments"] == request["AlgorithmSpecification"]["ContainerArguments"]
    bucket, key = d["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), mode="r:gz") as tar:
        assert "xgboost-model" not in tar.getnames()  # the image's own training did not run
        marker = tar.extractfile("marker.txt")
        assert marker is not None and marker.read() == b"written by the entrypoint"


def test_container_entrypoint_limits_are_validation_exceptions(node: Any) -> None:
    raw = boto3.client("sagemaker", endpoint_url=node.endpoints["sagemaker"],
                       config=Config(parameter_validation=False, retries={"max_attempts": 1}), **CREDS)
    for member, value, constraint in [
        ("ContainerEntrypoint", ["python3"] * 101, "Member must have length less than or equal to 100"),
        ("ContainerEntrypoint", [], "Member must have length greater than or equal to 1"),
        ("ContainerArguments", ["x" * 257], "Member must have length less than or equal to 256"),
    ]:
        request = job_request("cp-entrypoint-limits")
        request["AlgorithmSpecification"][member] = value
        with pytest.raises(ClientError) as exc:
            raw.create_training_job(**request)
        code, message = _error(exc)
        assert code == "ValidationException"
        assert f"algorithmSpecification.{member[0].lower()}{member[1:]}" in message and constraint in message


def test_failed_job_reports_reason(listed: list[dict[str, Any]]) -> None:
    failed = listed[2]
    assert (failed["TrainingJobStatus"], failed["SecondaryStatus"]) == ("Failed", "Failed")
    assert "num_round" in failed["FailureReason"]
    assert failed["SecondaryStatusTransitions"][-1]["Status"] == "Failed"


def test_a_finished_job_leaves_its_log_and_nothing_else(node: Any, completed: dict[str, Any],
                                                        listed: list[dict[str, Any]]) -> None:
    """A job's host tree (its /opt/ml: data, model, checkpoints) and packed model go once it has ended."""
    for name in ("cp-basic", "lst-delta-fails"):
        job_dir = node.settings.jobs_dir / name
        wait_for(lambda: sorted(p.name for p in job_dir.iterdir()) == ["algo-1.log"], 30,
                 what=f"{name}'s tree to be removed")
        assert "Headwater: started containers.xgboost" in (job_dir / "algo-1.log").read_text()


# --------------------------------------------------------------------------- list


def _names(resp: dict[str, Any]) -> list[str]:
    return [s["TrainingJobName"] for s in resp["TrainingJobSummaries"]]


def test_list_summaries(sm: Any, listed: list[dict[str, Any]]) -> None:
    resp = sm.list_training_jobs(NameContains="lst-")
    assert "NextToken" not in resp
    by_name = {s["TrainingJobName"]: s for s in resp["TrainingJobSummaries"]}
    assert set(by_name) == {d["TrainingJobName"] for d in listed}
    for d in listed:
        s = by_name[d["TrainingJobName"]]
        for key in ("TrainingJobArn", "CreationTime", "LastModifiedTime", "TrainingJobStatus", "SecondaryStatus",
                    "TrainingEndTime"):
            assert s[key] == d[key], key


def test_list_default_order_is_creation_time_ascending(sm: Any, listed: list[dict[str, Any]]) -> None:
    created = [d["TrainingJobName"] for d in listed]
    assert _names(sm.list_training_jobs(NameContains="lst-")) == created
    assert _names(sm.list_training_jobs(NameContains="lst-", SortBy="CreationTime",
                                        SortOrder="Descending")) == created[::-1]


def test_list_sort_by_name_and_status(sm: Any, listed: list[dict[str, Any]]) -> None:
    names = sorted(d["TrainingJobName"] for d in listed)
    assert _names(sm.list_training_jobs(NameContains="lst-", SortBy="Name")) == names
    assert _names(sm.list_training_jobs(NameContains="lst-", SortBy="Name", SortOrder="Descending")) == names[::-1]
    by_status = sm.list_training_jobs(NameContains="lst-", SortBy="Status", SortOrder="Ascending")
    statuses = [s["TrainingJobStatus"] for s in by_status["TrainingJobSummaries"]]
    assert statuses == ["Completed", "Completed", "Completed", "Failed"]
    desc = sm.list_training_jobs(NameContains="lst-", SortBy="Status", SortOrder="Descending")
    assert _names(desc)[0] == "lst-delta-fails"


def test_list_status_and_name_filters(sm: Any, listed: list[dict[str, Any]]) -> None:
    assert _names(sm.list_training_jobs(NameContains="lst-", StatusEquals="Failed")) == ["lst-delta-fails"]
    assert len(_names(sm.list_training_jobs(NameContains="lst-", StatusEquals="Completed"))) == 3
    assert _names(sm.list_training_jobs(NameContains="lst-", StatusEquals="InProgress")) == []
    assert _names(sm.list_training_jobs(NameContains="alph")) == ["lst-alpha"]
    assert _names(sm.list_training_jobs(NameContains="no-such-job")) == []


def test_list_creation_time_window(sm: Any, listed: list[dict[str, Any]]) -> None:
    created = [d["CreationTime"] for d in listed]
    names = [d["TrainingJobName"] for d in listed]
    # Bounds halfway between creation times (they are >= 60 ms apart).
    mid = [a + (b - a) / 2 for a, b in zip(created, created[1:])]
    assert _names(sm.list_training_jobs(NameContains="lst-", CreationTimeAfter=mid[1])) == names[2:]
    assert _names(sm.list_training_jobs(NameContains="lst-", CreationTimeBefore=mid[1])) == names[:2]
    assert _names(sm.list_training_jobs(NameContains="lst-", CreationTimeAfter=mid[0],
                                        CreationTimeBefore=mid[2])) == names[1:3]
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert _names(sm.list_training_jobs(NameContains="lst-", CreationTimeAfter=future)) == []


def test_list_time_bounds_are_exclusive_of_the_returned_creation_time(sm: Any, listed: list[dict[str, Any]]) -> None:
    for d in listed:
        t = d["CreationTime"]
        assert d["TrainingJobName"] not in _names(sm.list_training_jobs(NameContains="lst-", CreationTimeAfter=t))
        assert d["TrainingJobName"] not in _names(sm.list_training_jobs(NameContains="lst-", CreationTimeBefore=t))


def test_list_pagination_with_next_token(sm: Any, listed: list[dict[str, Any]]) -> None:
    expected = sorted(d["TrainingJobName"] for d in listed)
    pages: list[list[str]] = []
    kwargs: dict[str, Any] = {"NameContains": "lst-", "SortBy": "Name", "MaxResults": 3}
    while True:
        resp = sm.list_training_jobs(**kwargs)
        pages.append(_names(resp))
        if "NextToken" not in resp:
            break
        kwargs["NextToken"] = resp["NextToken"]
        assert len(pages) < 10
    assert pages == [expected[:3], expected[3:]]


def test_list_paginator(sm: Any, listed: list[dict[str, Any]]) -> None:
    expected = [d["TrainingJobName"] for d in listed]
    paginator = sm.get_paginator("list_training_jobs")
    pages = list(paginator.paginate(NameContains="lst-", PaginationConfig={"PageSize": 1}))
    assert [_names(p) for p in pages] == [[n] for n in expected]
    limited = paginator.paginate(NameContains="lst-", PaginationConfig={"PageSize": 2, "MaxItems": 3})
    assert _names(limited.build_full_result()) == expected[:3]


def test_list_invalid_next_token(sm: Any, listed: list[dict[str, Any]]) -> None:
    with pytest.raises(ClientError) as exc:
        sm.list_training_jobs(NameContains="lst-", NextToken="not-a-token")
    assert _error(exc)[0] == "ValidationException"


# --------------------------------------------------------------------------- stop


def test_stop_long_running_job(sm: Any, datasets: None) -> None:
    name = "cp-stop-me"
    sm.create_training_job(**job_request(name, prefix="it/slow", hyperparameters=SLOW_HPS, validation=False))
    _wait_secondary(sm, name, "Training")
    time.sleep(1.0)  # the container is up and training
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress"
    started = time.monotonic()
    sm.stop_training_job(TrainingJobName=name)
    d = sm.describe_training_job(TrainingJobName=name)
    assert d["TrainingJobStatus"] in ("Stopping", "Stopped")
    sm.stop_training_job(TrainingJobName=name)  # stopping twice is not an error while Stopping
    d = wait_for_job(sm, name, timeout=40)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert "FailureReason" not in d
    statuses = [t["Status"] for t in d["SecondaryStatusTransitions"]]
    assert statuses[:3] == ["Starting", "Downloading", "Training"]
    # Stopping follows Training; the partial model may be uploaded before Stopped.
    assert statuses[3] == "Stopping" and statuses[-1] == "Stopped"
    assert set(statuses[4:-1]) <= {"Uploading"}
    assert d["TrainingEndTime"] >= d["TrainingStartTime"]
    with pytest.raises(ClientError) as exc:
        sm.stop_training_job(TrainingJobName=name)
    code, message = _error(exc)
    assert code == "ValidationException" and "Stopped" in message


def test_stop_completed_job_is_rejected(sm: Any, completed: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        sm.stop_training_job(TrainingJobName="cp-basic")
    code, message = _error(exc)
    assert code == "ValidationException"
    assert "Completed" in message
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sm.describe_training_job(TrainingJobName="cp-basic")["TrainingJobStatus"] == "Completed"


def test_max_runtime_exceeded(sm: Any, datasets: None) -> None:
    name = "cp-max-runtime"
    sm.create_training_job(**job_request(name, prefix="it/slow", hyperparameters=SLOW_HPS, validation=False,
                                         max_runtime=2))
    d = wait_for_job(sm, name, timeout=40)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    last = d["SecondaryStatusTransitions"][-1]
    assert last["Status"] == "MaxRuntimeExceeded"
    assert "MaxRuntimeInSeconds" in last["StatusMessage"]
    assert d["TrainingTimeInSeconds"] >= 2


# --------------------------------------------------------------------------- errors


def test_duplicate_name_is_resource_in_use(sm: Any, completed: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as exc:
        sm.create_training_job(**job_request("cp-basic"))
    code, message = _error(exc)
    assert code == "ResourceInUse"
    assert "cp-basic" in message
    # The original job is untouched.
    assert sm.describe_training_job(TrainingJobName="cp-basic")["CreationTime"] == completed["CreationTime"]


def test_unknown_job_is_resource_not_found(sm: Any) -> None:
    for call in (sm.describe_training_job, sm.stop_training_job):
        with pytest.raises(ClientError) as exc:
            call(TrainingJobName="no-such-job")
        code, message = _error(exc)
        assert code == "ResourceNotFound"
        assert "no-such-job" in message


def test_invalid_name_is_validation_exception(node: Any) -> None:
    raw = boto3.client("sagemaker", endpoint_url=node.endpoints["sagemaker"],
                       config=Config(parameter_validation=False, retries={"max_attempts": 1}), **CREDS)
    with pytest.raises(ClientError) as exc:
        raw.create_training_job(**job_request("not a valid name!"))
    code, message = _error(exc)
    assert code == "ValidationException"
    assert "trainingJobName" in message
    assert "not a valid name!" in message
    assert "regular expression pattern" in message
    with pytest.raises(ClientError) as exc:
        raw.describe_training_job(TrainingJobName="not a valid name!")
    assert _error(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        raw.list_training_jobs(MaxResults=0)
    code, message = _error(exc)
    assert code == "ValidationException" and "maxResults" in message


def test_an_unknown_create_training_job_member_is_a_validation_exception(node: Any) -> None:
    """A member botocore's model does not know, at any depth, is refused with botocore's own words."""
    # boto3 cannot send such a member (its serializer refuses it even without parameter validation):
    # this is what a raw HTTP client meets.
    request = job_request("cp-unknown-member")
    request["VpcConfg"] = {"Subnets": ["subnet-1"]}
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["Prefix"] = "x"
    http = urllib.request.Request(node.endpoints["sagemaker"] + "/", data=json.dumps(request).encode(), headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.CreateTrainingJob"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(http, timeout=10)
    assert exc.value.code == 400
    error = json.loads(exc.value.read())
    assert error["__type"].endswith("ValidationException")
    message = error.get("message") or error["Message"]
    assert 'Unknown parameter in input: "VpcConfg", must be one of: TrainingJobName, HyperParameters' in message
    assert 'Unknown parameter in InputDataConfig[0].DataSource.S3DataSource: "Prefix"' in message
    with pytest.raises(ClientError):
        node.client("sagemaker").describe_training_job(TrainingJobName="cp-unknown-member")


@pytest.mark.parametrize("operation", ["CreateProcessingJob", "CreateTransformJob",
                                       "CreateHyperParameterTuningJob", "CreateEndpointConfig"])
def test_every_operation_refuses_a_member_botocore_does_not_know(node: Any, operation: str) -> None:
    http = urllib.request.Request(node.endpoints["sagemaker"] + "/", data=json.dumps({"Bogus": 1}).encode(),
                                  headers={"Content-Type": "application/x-amz-json-1.1",
                                           "X-Amz-Target": f"SageMaker.{operation}"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(http, timeout=10)
    assert exc.value.code == 400
    error = json.loads(exc.value.read())
    assert error["__type"].endswith("ValidationException")
    assert 'Unknown parameter in input: "Bogus"' in (error.get("message") or error["Message"])


def test_a_known_member_without_effect_round_trips_to_describe(sm: Any) -> None:
    request = job_request("cp-known-member")
    request.update(VpcConfig={"SecurityGroupIds": ["sg-0123456"], "Subnets": ["subnet-0123456"]},
                   RetryStrategy={"MaximumRetryAttempts": 2},
                   ExperimentConfig={"ExperimentName": "exp", "TrialName": "trial"})
    sm.create_training_job(**request)
    d = sm.describe_training_job(TrainingJobName="cp-known-member")
    for member in ("VpcConfig", "RetryStrategy", "ExperimentConfig"):
        assert d[member] == request[member]


def test_unimplemented_operation(node: Any, sm: Any) -> None:
    """An operation of SageMaker's model that this node does not serve."""
    served = json.loads(urllib.request.urlopen(node.endpoints["sagemaker"] + "/health", timeout=10).read())
    assert {"CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob"} <= set(
        served["operations"])
    model = boto3.session.Session().client("sagemaker", region_name="us-east-1").meta.service_model
    # The first List* operation of SageMaker's model that takes no required input and is not served.
    operation = next(op for op in sorted(model.operation_names) if op.startswith("List")
                     and op not in served["operations"]
                     and not model.operation_model(op).input_shape.required_members)
    with pytest.raises(ClientError) as exc:
        getattr(sm, xform_name(operation))()
    code, message = _error(exc)
    assert code == "UnknownOperationException"
    assert operation in message
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# --------------------------------------------------------------------------- logs


def _log_stream(node: Any, job: str) -> tuple[str, list[str]]:
    logs = node.client("logs")
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job}/")["logStreams"]
    assert len(streams) == 1, streams
    stream = streams[0]["logStreamName"]
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)["events"]
    return stream, [e["message"] for e in events]


def test_log_stream_of_a_job(node: Any, completed: dict[str, Any]) -> None:
    groups = node.client("logs").describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
    assert LOG_GROUP in [g["logGroupName"] for g in groups]
    stream, lines = _log_stream(node, "cp-basic")
    assert re.fullmatch(r"cp-basic/algo-1-\d{10}", stream), stream
    started = int(stream.rsplit("-", 1)[1])
    assert abs(started - completed["TrainingStartTime"].timestamp()) < 60
    rounds = [line for line in lines if re.match(r"\[\d+\]", line)]
    assert len(rounds) == NUM_ROUND
    assert all("validation-rmse:" in line for line in rounds)
    assert "Training succeeded." in lines


def test_log_lines_match_sdk_metric_regex(node: Any, completed: dict[str, Any]) -> None:
    """SageMaker's log pipeline writes a TAB as ``#011``; the SDK's metric regexes rely on it."""
    _, lines = _log_stream(node, "cp-basic")
    assert all("\t" not in line for line in lines)
    values = [float(m.group(1)) for line in lines if (m := re.match(SDK_VALIDATION_RMSE, line))]
    assert len(values) == NUM_ROUND
    assert all(v >= 0 for v in values)
    assert re.search(r"^\[0\]#011train-rmse:[0-9.]+#011validation-rmse:[0-9.]+$", "\n".join(lines), re.M)


def test_metrics_from_the_log(node: Any, completed: dict[str, Any]) -> None:
    """Built-in metrics and MetricDefinitions: FinalMetricDataList and the CloudWatch series."""
    _, lines = _log_stream(node, "cp-basic")
    values = [float(m.group(1)) for line in lines if (m := re.match(SDK_VALIDATION_RMSE, line))]
    final = {m["MetricName"]: m["Value"] for m in completed["FinalMetricDataList"]}
    assert final["validation:rmse"] == pytest.approx(values[-1])  # the last value, as SageMaker reports
    assert "train:rmse" in final
    cw = node.client("cloudwatch")
    stats = cw.get_metric_statistics(
        Namespace=LOG_GROUP, MetricName="validation:rmse", Dimensions=[{"Name": "Host", "Value": "cp-basic/algo-1"}],
        StartTime=completed["CreationTime"] - timedelta(minutes=5), EndTime=datetime.now(timezone.utc) + timedelta(minutes=5),
        Period=3600, Statistics=["Minimum", "Maximum", "SampleCount"])["Datapoints"]
    assert sum(d["SampleCount"] for d in stats) == NUM_ROUND
    assert min(d["Minimum"] for d in stats) == pytest.approx(min(values))


def test_custom_metric_definitions(node: Any, sm: Any) -> None:
    req = job_request("cp-metricdefs")
    req["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "my:rmse", "Regex": r"validation-rmse:([0-9\.]+)"}]
    sm.create_training_job(**req)
    d = wait_for_job(sm, "cp-metricdefs")
    names = {m["MetricName"] for m in d["FinalMetricDataList"]}
    assert {"my:rmse", "validation:rmse"} <= names


# --------------------------------------------------------------------------- events


def test_state_change_events(node: Any, sm: Any, completed: dict[str, Any], state_changes: Any) -> None:
    def job_events() -> list[dict[str, Any]]:
        return [e for e in state_changes() if e["detail"].get("TrainingJobName") == "cp-basic"]

    events = wait_for(lambda: (lambda evs: evs if len(evs) >= 5 else None)(job_events()), 20,
                      what="five state changes of cp-basic")
    # Each change adds a transition: order by that, not by arrival.
    events.sort(key=lambda e: len(e["detail"]["SecondaryStatusTransitions"]))
    seen = [(e["detail"]["TrainingJobStatus"], e["detail"]["SecondaryStatus"]) for e in events]
    assert seen == [("InProgress", "Starting"), ("InProgress", "Downloading"), ("InProgress", "Training"),
                    ("InProgress", "Uploading"), ("Completed", "Completed")]
    for e in events:
        assert e["source"] == "headwater.sagemaker"
        assert e["detail-type"] == DETAIL_TYPE
        assert e["resources"] == [completed["TrainingJobArn"]]
        assert e["region"] == "us-east-1"  # (moto's SQS delivery leaves out "account")
        detail = e["detail"]
        assert detail["TrainingJobName"] == "cp-basic"
        assert detail["TrainingJobArn"] == completed["TrainingJobArn"]
        assert isinstance(detail["CreationTime"], int)
        assert abs(detail["CreationTime"] - _ms(completed["CreationTime"])) <= 1
        assert "Headwater" not in detail and "Tags" not in detail
    described = {k: v for k, v in completed.items() if k != "ResponseMetadata"}
    _assert_mirrors(events[-1]["detail"], described)


def test_tags_on_a_training_job(sm: Any) -> None:
    """AddTags / ListTags / DeleteTags by the job's ARN (which lower-cases the name)."""
    name = "cp-Tagged"
    req = job_request(name)
    req["Tags"] = [{"Key": "team", "Value": "ml"}]
    arn = sm.create_training_job(**req)["TrainingJobArn"]
    assert arn.endswith(":training-job/cp-tagged")
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}, {"Key": "team", "Value": "risk"}])
    assert sorted((t["Key"], t["Value"]) for t in sm.list_tags(ResourceArn=arn)["Tags"]) == [
        ("stage", "dev"), ("team", "risk")]
    sm.delete_tags(ResourceArn=arn, TagKeys=["team", "absent"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "dev"}]
    assert "Tags" not in sm.describe_training_job(TrainingJobName=name)  # Describe does not echo tags
    with pytest.raises(ClientError) as err:
        sm.list_tags(ResourceArn=arn.replace("cp-tagged", "nope"))
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    wait_for_job(sm, name)
