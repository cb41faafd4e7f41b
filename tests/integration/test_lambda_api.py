"""The Lambda Invoke API over Headwater's handlers, driven with boto3's ``lambda`` client.

Payloads are the event shapes AWS documents (``tests/events/*.json``),
filled in with an object this module uploads under
``datasets/<name>/train/``. The upload goes to a bucket of its own, which
no rule watches, so the only job it starts is the one an invocation starts.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.support import wait_for, wait_for_job

EVENTS = Path(__file__).resolve().parent.parent / "events"
FUNCTION = "start-training-on-upload"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
BUCKET = "it-lambda-uploads"
DATASET = "lambda-ds"
KEY = f"datasets/{DATASET}/train/part 0.csv"  # a space: S3 notifications carry it as '+'
SEQUENCER = "0066339BE2B0C5E1A4"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def _csv(rows: int = 80) -> bytes:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, 3))
    y = x @ np.array([0.5, 1.5, -1.0]) + 0.1 * rng.normal(size=rows)
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def lam(node: Any) -> Any:
    return node.client("lambda")


@pytest.fixture(scope="module")
def sm(node: Any) -> Any:
    return node.client("sagemaker")


@pytest.fixture(scope="module")
def upload(node: Any) -> dict[str, Any]:
    """A training CSV under ``datasets/<name>/train/``; its bucket, key, ETag and size."""
    s3 = node.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    body = _csv()
    etag = s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)["ETag"].strip('"')
    assert etag == hashlib.md5(body).hexdigest()
    return {"bucket": BUCKET, "key": KEY, "etag": etag, "size": len(body)}


def eventbridge_event(obj: dict[str, Any]) -> dict[str, Any]:
    """``s3_object_created_eventbridge.json`` for ``obj``."""
    event = load_event("s3_object_created_eventbridge.json")
    event["id"] = str(uuid.uuid4())
    event["resources"] = [f"arn:aws:s3:::{obj['bucket']}"]
    event["detail"]["bucket"]["name"] = obj["bucket"]
    event["detail"]["object"].update(key=obj["key"], size=obj["size"], etag=obj["etag"], sequencer=SEQUENCER)
    return event


def s3_notification(obj: dict[str, Any]) -> dict[str, Any]:
    """``s3_notification.json`` for ``obj`` (the key form-encoded, as S3 sends it)."""
    event = load_event("s3_notification.json")
    record = event["Records"][0]["s3"]
    record["bucket"].update(name=obj["bucket"], arn=f"arn:aws:s3:::{obj['bucket']}")
    record["object"].update(key=quote_plus(obj["key"], safe="/"), size=obj["size"], eTag=obj["etag"],
                            sequencer=SEQUENCER)
    return event


def sqs_event(*bodies: str) -> dict[str, Any]:
    """``sqs_event.json`` with one record per body, each with its own message id."""
    template = load_event("sqs_event.json")["Records"][0]
    records = []
    for body in bodies:
        record = copy.deepcopy(template)
        record.update(messageId=str(uuid.uuid4()), body=body, md5OfBody=hashlib.md5(body.encode()).hexdigest())
        records.append(record)
    return {"Records": records}


def invoke(lam: Any, payload: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    raw = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    resp = lam.invoke(FunctionName=kwargs.pop("FunctionName", FUNCTION), Payload=raw, **kwargs)
    body = resp["Payload"].read()
    return resp, (json.loads(body) if body else None)


def dataset_jobs(sm: Any) -> list[str]:
    return [s["TrainingJobName"] for s in sm.list_training_jobs(NameContains=DATASET)["TrainingJobSummaries"]]


# --------------------------------------------------------------------------- functions


def test_list_functions(lam: Any) -> None:
    functions = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    assert FUNCTION in functions
    fn = functions[FUNCTION]
    assert fn["FunctionArn"] == FUNCTION_ARN
    assert fn["Runtime"] == "python3.11"
    assert fn["Handler"] == "handlers.on_object_created.lambda_handler"
    assert fn["Timeout"] >= 1
    # The paginator a boto3 user reaches for works too.
    paged = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]]
    assert FUNCTION in paged


def test_get_function(lam: Any) -> None:
    config = lam.get_function(FunctionName=FUNCTION)["Configuration"]
    assert (config["FunctionName"], config["FunctionArn"], config["State"]) == (FUNCTION, FUNCTION_ARN, "Active")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="no-such-function")


def test_unknown_function(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as exc:
        lam.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "no-such-function" in exc.value.response["Error"]["Message"]


# --------------------------------------------------------------------------- invoke


def test_object_created_event_starts_a_training_job(lam: Any, sm: Any, upload: dict[str, Any]) -> None:
    resp, result = invoke(lam, eventbridge_event(upload))
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp, result
    assert resp["ExecutedVersion"] == "$LATEST"
    assert result == {"handled": 1}

    jobs = dataset_jobs(sm)
    assert len(jobs) == 1 and jobs[0].startswith(f"{DATASET}-")
    d = sm.describe_training_job(TrainingJobName=jobs[0])
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/sagemaker-xgboost:1.7-1")
    assert [c["ChannelName"] for c in d["InputDataConfig"]] == ["train"]
    assert d["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{BUCKET}/datasets/{DATASET}/train/"
    assert d["InputDataConfig"][0]["ContentType"] == "text/csv"
    assert d["HyperParameters"]["objective"] == "reg:squarederror"  # inferred from the float labels
    assert "num_round" in d["HyperParameters"]
    done = wait_for_job(sm, jobs[0], timeout=90)
    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")

    # The same event again (a redelivery) starts nothing new.
    resp, result = invoke(lam, eventbridge_event(upload))
    assert (resp["StatusCode"], resp.get("FunctionError"), result) == (200, None, {"handled": 1})
    assert dataset_jobs(sm) == jobs


@pytest.mark.parametrize("function_name", [
    FUNCTION_ARN,
    f"{FUNCTION_ARN}:$LATEST",
    f"{FUNCTION}:$LATEST",
    f"123456789012:function:{FUNCTION}",
], ids=["arn", "qualified-arn", "qualified-name", "partial-arn"])
def test_function_names_lambda_accepts(lam: Any, function_name: str) -> None:
    resp, result = invoke(lam, load_event("s3_test_event.json"), FunctionName=function_name)
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert result == {"handled": 0}
    assert lam.get_function(FunctionName=function_name)["Configuration"]["FunctionName"] == FUNCTION


def test_unknown_qualifier_is_not_found(lam: Any) -> None:
    for kwargs in ({"FunctionName": f"{FUNCTION}:v7"}, {"FunctionName": FUNCTION, "Qualifier": "prod"}):
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.invoke(Payload=b"{}", **kwargs)


def test_s3_test_event_is_acknowledged(lam: Any, sm: Any) -> None:
    before = sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
    resp, result = invoke(lam, load_event("s3_test_event.json"))
    assert (resp["StatusCode"], resp.get("FunctionError"), result) == (200, None, {"handled": 0})
    assert sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"] == before


def test_asynchronous_and_dry_run_invocations(lam: Any) -> None:
    resp, body = invoke(lam, load_event("s3_test_event.json"), InvocationType="Event")
    assert (resp["StatusCode"], body) == (202, None)
    # An Event invocation is queued: the caller never sees the function's error.
    resp, body = invoke(lam, {"hello": "world"}, InvocationType="Event")
    assert (resp["StatusCode"], resp.get("FunctionError"), body) == (202, None, None)
    resp, body = invoke(lam, load_event("s3_test_event.json"), InvocationType="DryRun")
    assert (resp["StatusCode"], body) == (204, None)


def test_an_event_invocation_is_queued_retried_and_dead_lettered_like_lambdas(node: Any, lam: Any) -> None:
    # Lambda keeps an asynchronous invocation in its own queue, retries a failure and then sends it on to the
    # dead-letter target: here, the function's queue and dead-letter queue, as for its events.
    marker = f"async-{uuid.uuid4().hex[:8]}"
    resp, _ = invoke(lam, {"hello": marker}, InvocationType="Event")
    assert resp["StatusCode"] == 202
    sqs = node.client("sqs")
    dlq = sqs.get_queue_url(QueueName=node.settings.dlq_name(FUNCTION))["QueueUrl"]

    def dead_lettered() -> dict[str, Any] | None:
        for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageAttributeNames=["All"]).get("Messages", []):
            if marker in m["Body"]:
                return m
        return None

    dead = wait_for(dead_lettered, 60, what="the failing Event invocation in the dead-letter queue")
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["ErrorType"] == "MalformedEvent"
    assert attributes["Attempts"] == str(node.settings.max_receive_count)


@pytest.mark.parametrize("payload, message", [
    ({"hello": "world"}, "not an S3 event"),
    ({**load_event("s3_object_created_eventbridge.json"), "detail-type": "Object Deleted"}, "Object Deleted"),
    ({k: v for k, v in load_event("s3_object_created_eventbridge.json").items() if k != "detail"}, "detail"),
    ([1, 2, 3], "not an object"),
], ids=["no-s3-shape", "wrong-detail-type", "missing-detail", "json-array"])
def test_malformed_payload_is_an_unhandled_function_error(lam: Any, payload: Any, message: str) -> None:
    resp, result = invoke(lam, payload)
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    assert result["errorType"] == "MalformedEvent"
    assert message in result["errorMessage"]
    assert isinstance(result.get("stackTrace"), list)


def test_event_for_a_missing_object_is_an_unhandled_function_error(lam: Any, sm: Any,
                                                                   upload: dict[str, Any]) -> None:
    gone = {**upload, "key": f"datasets/{DATASET}-missing/train/nothing-here.csv"}
    resp, result = invoke(lam, eventbridge_event(gone))
    assert resp["FunctionError"] == "Unhandled"
    assert result["errorMessage"]
    assert not [n for n in dataset_jobs(sm) if n.startswith(f"{DATASET}-missing")]


def test_payload_that_is_not_json(lam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=FUNCTION, Payload=b"this is not json")
    assert exc.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_sqs_batch_reports_only_the_failed_record(lam: Any, sm: Any, upload: dict[str, Any]) -> None:
    good = json.dumps(s3_notification(upload))
    also_good = json.dumps(load_event("s3_test_event.json"))
    bad = "this is not json"
    event = sqs_event(good, bad, also_good)
    bad_id = event["Records"][1]["messageId"]

    resp, result = invoke(lam, event)

    assert resp["StatusCode"] == 200 and "FunctionError" not in resp, result
    assert result == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    # The notification names the same object (key decoded from '+'), ETag and sequencer
    # as the EventBridge event: it leads to the same, single job.
    jobs = dataset_jobs(sm)
    assert len(jobs) == 1
    assert sm.describe_training_job(TrainingJobName=jobs[0])["TrainingJobStatus"] in ("InProgress", "Completed")


def test_sqs_batch_with_no_failures(lam: Any) -> None:
    resp, result = invoke(lam, sqs_event(json.dumps(load_event("s3_test_event.json"))))
    assert (resp["StatusCode"], resp.get("FunctionError")) == (200, None)
    assert result == {"batchItemFailures": []}
