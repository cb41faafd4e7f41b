"""SQS event source mappings: the Lambda API's operations, batches in Lambda's SQS event shape, partial batch
failures and the queue's redrive policy, on the embedded emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.functions_support import create
from tests.support import NodeThread, free_port_settings, wait_for

ACCOUNT = "123456789012"
# Writes every batch it is given to the sink bucket; fails the records whose body says "bad" (as a partial batch
# response, or as a whole when the body says "crash").
RECORDER = """
import json, boto3

def handler(event, context):
    boto3.client("s3").put_object(Bucket="esm-sink", Key=context.aws_request_id, Body=json.dumps(event).encode())
    if any(r["body"] == "crash" for r in event["Records"]):
        raise RuntimeError("crashing on purpose")
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"]}
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("node"))).start()
    n.client("s3").create_bucket(Bucket="esm-sink")
    create(n.client("lambda"), "esm-recorder", RECORDER, Timeout=30)
    yield n
    n.stop()


@pytest.fixture(scope="module")
def lam(node: NodeThread) -> Any:
    return node.client("lambda")


def queue(node: NodeThread, name: str, **attributes: str) -> tuple[str, str]:
    url = node.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def batches(node: NodeThread) -> list[dict[str, Any]]:
    """Every batch the recorder was given so far (and forgets them)."""
    s3 = node.client("s3")
    out = []
    for o in s3.list_objects_v2(Bucket="esm-sink").get("Contents", []):
        out.append(json.loads(s3.get_object(Bucket="esm-sink", Key=o["Key"])["Body"].read()))
        s3.delete_object(Bucket="esm-sink", Key=o["Key"])
    return out


def depth(node: NodeThread, url: str) -> int:
    a = node.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_create_get_list_update_delete(node: NodeThread, lam: Any) -> None:
    _, arn = queue(node, "esm-crud")
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="esm-recorder", BatchSize=5,
                                              Enabled=False)
    assert created["State"] == "Creating" and created["BatchSize"] == 5
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:esm-recorder"
    uuid = created["UUID"]
    got = lam.get_event_source_mapping(UUID=uuid)
    assert (got["State"], got["EventSourceArn"], got["MaximumBatchingWindowInSeconds"]) == ("Disabled", arn, 0)
    assert [m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]] == [uuid]
    assert lam.list_event_source_mappings(FunctionName="esm-recorder", EventSourceArn=arn)["EventSourceMappings"]
    updated = lam.update_event_source_mapping(UUID=uuid, BatchSize=50, MaximumBatchingWindowInSeconds=2,
                                              FunctionResponseTypes=["ReportBatchItemFailures"])
    assert (updated["State"], updated["BatchSize"], updated["FunctionResponseTypes"]) == (
        "Updating", 50, ["ReportBatchItemFailures"])
    assert lam.delete_event_source_mapping(UUID=uuid)["State"] == "Deleting"
    with pytest.raises(ClientError) as err:
        lam.get_event_source_mapping(UUID=uuid)
    assert code(err) == "ResourceNotFoundException"


def test_bad_mappings_get_lambdas_errors(node: NodeThread, lam: Any) -> None:
    _, arn = queue(node, "esm-bad")
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="esm-no-such-function")
    assert code(err) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(EventSourceArn=f"{arn}-missing", FunctionName="esm-recorder")
    assert code(err) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as err:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="esm-recorder", BatchSize=20)
    assert code(err) == "InvalidParameterValueException"  # over 10 needs a batching window


def test_batches_arrive_in_lambdas_sqs_shape_and_are_deleted(node: NodeThread, lam: Any) -> None:
    url, arn = queue(node, "esm-orders")
    sqs = node.client("sqs")
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"order-{n}",
                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}})
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="esm-recorder", BatchSize=10,
                                           MaximumBatchingWindowInSeconds=1)["UUID"]
    try:
        records: list[dict[str, Any]] = []
        wait_for(lambda: records.extend(r for b in batches(node) for r in b["Records"]) or len(records) >= 3, 60,
                 what="the three messages to reach the function")
        assert sorted(r["body"] for r in records) == ["order-0", "order-1", "order-2"]
        r = records[0]
        assert (r["eventSource"], r["eventSourceARN"], r["awsRegion"]) == ("aws:sqs", arn, "us-east-1")
        assert r["attributes"]["ApproximateReceiveCount"] == "1" and r["attributes"]["SentTimestamp"]
        assert r["messageAttributes"]["kind"]["stringValue"] == "order" and len(r["md5OfBody"]) == 32
        wait_for(lambda: depth(node, url) == 0, 30, what="the delivered messages to be deleted")
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


def test_partial_batch_failures_and_the_queues_redrive_policy(node: NodeThread, lam: Any) -> None:
    dlq_url, dlq_arn = queue(node, "esm-partial-dlq")
    url, arn = queue(node, "esm-partial", VisibilityTimeout="1",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    sqs = node.client("sqs")
    for body in ("good", "bad"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="good-too")
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="esm-recorder", BatchSize=10,
                                           MaximumBatchingWindowInSeconds=1,
                                           FunctionResponseTypes=["ReportBatchItemFailures"])["UUID"]
    try:
        dead = wait_for(lambda: sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages"), 60,
                        what="the failing message to be dead-lettered by the queue's redrive policy")
        assert [m["Body"] for m in dead] == ["bad"]
        wait_for(lambda: depth(node, url) == 0, 30, what="the main queue to be empty")
        seen = [r["body"] for b in batches(node) for r in b["Records"]]
        assert sorted(set(seen)) == ["bad", "good", "good-too"]
        assert seen.count("good") == 1 and seen.count("good-too") == 1  # deleted after their first delivery
        assert seen.count("bad") == 2  # its maxReceiveCount
    finally:
        lam.delete_event_source_mapping(UUID=uuid)


def test_a_function_error_returns_the_whole_batch_to_the_queue(node: NodeThread, lam: Any) -> None:
    dlq_url, dlq_arn = queue(node, "esm-crash-dlq")
    url, arn = queue(node, "esm-crash", VisibilityTimeout="1",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    sqs = node.client("sqs")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "crash"},
                                                  {"Id": "b", "MessageBody": "innocent"}])
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="esm-recorder", BatchSize=10,
                                           MaximumBatchingWindowInSeconds=1)["UUID"]
    try:
        dead: list[str] = []
        wait_for(lambda: dead.extend(m["Body"] for m in sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])) or len(dead) >= 2, 60,
            what="both messages of the failed batch to be dead-lettered")
        assert sorted(dead) == ["crash", "innocent"]
    finally:
        lam.delete_event_source_mapping(UUID=uuid)
        batches(node)
