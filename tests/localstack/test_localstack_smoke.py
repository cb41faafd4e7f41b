"""Smoke test: the AWS features Headwater relies on work on LocalStack.

Runs with boto3 against the session's LocalStack (``localstack_endpoint``):
S3 (path-style), S3 conditional writes, SQS with a dead-letter queue, S3 ->
EventBridge (default bus) -> rule with a wildcard key pattern -> SQS, custom
bus PutEvents with a numeric pattern, and CloudWatch Logs.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any, Callable

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytestmark = pytest.mark.localstack

REGION = "us-east-1"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def client(localstack_endpoint: str) -> Callable[[str], Any]:
    session = boto3.session.Session(
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name=REGION,
    )
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 2, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )
    cache: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in cache:
            cache[service] = session.client(
                service, endpoint_url=localstack_endpoint, config=config
            )
        return cache[service]

    return make


def _queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _allow_eventbridge(sqs: Any, queue_url: str, queue_arn: str, rule_arn: str) -> None:
    """The queue policy real AWS requires for an EventBridge target."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})


def _drain(
    sqs: Any,
    queue_url: str,
    *,
    until: Callable[[list[dict]], bool],
    timeout: float = 20.0,
    settle: float = 2.0,
) -> list[dict]:
    """Receive (and delete) JSON bodies until ``until(bodies)`` holds, then keep
    listening ``settle`` more seconds to catch anything that should not come."""
    bodies: list[dict] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    while True:
        now = time.monotonic()
        if settle_until is None and until(bodies):
            settle_until = now + settle
        if settle_until is not None and now >= settle_until:
            return bodies
        if settle_until is None and now >= deadline:
            return bodies
        resp = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for msg in resp.get("Messages", []):
            bodies.append(json.loads(msg["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])


def test_health_reports_core_services(localstack_endpoint: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{localstack_endpoint}/_localstack/health", timeout=5) as resp:
        health = json.loads(resp.read())
    for service in ("s3", "sqs", "events", "logs"):
        assert health["services"][service] in ("available", "running"), health


def test_s3_bucket_put_get(client: Callable[[str], Any]) -> None:
    s3 = client("s3")
    bucket = _name("hw-smoke")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dir/a b.txt", Body=b"hello headwater")
    got = s3.get_object(Bucket=bucket, Key="dir/a b.txt")
    assert got["Body"].read() == b"hello headwater"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]]
    assert keys == ["dir/a b.txt"]


def test_s3_conditional_write_if_none_match(client: Callable[[str], Any]) -> None:
    s3 = client("s3")
    bucket = _name("hw-cond")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="lock.json", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="lock.json", Body=b"second", IfNoneMatch="*")
    assert err.value.response["Error"]["Code"] == "PreconditionFailed"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3.get_object(Bucket=bucket, Key="lock.json")["Body"].read() == b"first"


def test_sqs_redrive_to_dead_letter_queue(client: Callable[[str], Any]) -> None:
    sqs = client("sqs")
    dlq_url, dlq_arn = _queue(sqs, _name("hw-dlq"))
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    url, _ = _queue(sqs, _name("hw-jobs"), RedrivePolicy=redrive)

    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    assert json.loads(attrs["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"] == dlq_arn

    sqs.send_message(QueueUrl=url, MessageBody="poison")
    # First receive: receive count 1 == maxReceiveCount; not deleted, and
    # visible again at once.
    first = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, VisibilityTimeout=0)
    assert [m["Body"] for m in first["Messages"]] == ["poison"]
    # Next receive exceeds maxReceiveCount: the message moves to the DLQ.
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert again.get("Messages", []) == []
    dead = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=5)
    assert [m["Body"] for m in dead["Messages"]] == ["poison"]


def test_s3_eventbridge_wildcard_rule_to_sqs(client: Callable[[str], Any]) -> None:
    s3, sqs, events = client("s3"), client("sqs"), client("events")
    bucket = _name("hw-data")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"EventBridgeConfiguration": {}},
    )
    conf = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert "EventBridgeConfiguration" in conf

    queue_url, queue_arn = _queue(sqs, _name("hw-train-events"))
    rule = _name("hw-train-objects")
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"object": {"key": [{"wildcard": "datasets/*/train/*"}]}},
    }
    rule_arn = events.put_rule(
        Name=rule, EventBusName="default", EventPattern=json.dumps(pattern), State="ENABLED"
    )["RuleArn"]
    _allow_eventbridge(sqs, queue_url, queue_arn, rule_arn)
    resp = events.put_targets(
        Rule=rule, EventBusName="default", Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    assert resp["FailedEntryCount"] == 0
    try:
        # The non-matching object goes first, so that by the time the matching
        # one arrives the other had every chance to be (wrongly) delivered.
        s3.put_object(Bucket=bucket, Key="datasets/x/validation/a.csv", Body=b"v\n1\n")
        s3.put_object(Bucket=bucket, Key="datasets/x/train/a.csv", Body=b"t\n1\n")

        def has_train(bodies: list[dict]) -> bool:
            return any(b["detail"]["object"]["key"] == "datasets/x/train/a.csv" for b in bodies)

        bodies = _drain(sqs, queue_url, until=has_train)
        ours = [b for b in bodies if b["detail"]["bucket"]["name"] == bucket]
        assert [b["detail"]["object"]["key"] for b in ours] == ["datasets/x/train/a.csv"], bodies
        event = ours[0]
        assert event["source"] == "aws.s3"
        assert event["detail-type"] == "Object Created"
        assert event["detail"]["object"]["size"] == len(b"t\n1\n")
    finally:
        events.remove_targets(Rule=rule, EventBusName="default", Ids=["queue"])
        events.delete_rule(Name=rule, EventBusName="default")


def test_custom_bus_put_events_numeric_pattern(client: Callable[[str], Any]) -> None:
    sqs, events = client("sqs"), client("events")
    bus = _name("hw-bus")
    events.create_event_bus(Name=bus)
    queue_url, queue_arn = _queue(sqs, _name("hw-scores"))
    rule = _name("hw-good-scores")
    pattern = {
        "source": ["headwater.test"],
        "detail-type": ["Score"],
        "detail": {"score": [{"numeric": [">=", 0.5, "<", 1]}]},
    }
    rule_arn = events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))[
        "RuleArn"
    ]
    _allow_eventbridge(sqs, queue_url, queue_arn, rule_arn)
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    entries = [
        {
            "Source": "headwater.test",
            "DetailType": "Score",
            "Detail": json.dumps({"score": score, "run": run}),
            "EventBusName": bus,
        }
        for run, score in (("low", 0.2), ("good", 0.75), ("edge", 1), ("high", 1.5), ("min", 0.5))
    ]
    resp = events.put_events(Entries=entries)
    assert resp["FailedEntryCount"] == 0, resp

    bodies = _drain(sqs, queue_url, until=lambda b: len(b) >= 2)
    assert sorted(b["detail"]["run"] for b in bodies) == ["good", "min"], bodies
    assert all(b["source"] == "headwater.test" for b in bodies)

    # The same event on the default bus must not reach the custom bus's rule.
    events.put_events(Entries=[{**entries[1], "EventBusName": "default"}])
    assert _drain(sqs, queue_url, until=lambda b: True, timeout=0, settle=2.0) == []


def test_cloudwatch_logs_round_trip(client: Callable[[str], Any]) -> None:
    logs = client("logs")
    group = f"/headwater/smoke/{uuid.uuid4().hex[:10]}"
    stream = "training-job/algo-1"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now_ms = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[
            {"timestamp": now_ms, "message": "epoch 1 loss=0.50"},
            {"timestamp": now_ms + 1, "message": "epoch 2 loss=0.25"},
        ],
    )
    got = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["epoch 1 loss=0.50", "epoch 2 loss=0.25"]
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]
