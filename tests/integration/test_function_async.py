"""``Event`` invocations of user functions: queued, retried, then sent to destinations or a dead-letter queue.

One node for the module, retrying at once (``function_retry_seconds=0``) so
that a test sees every attempt without waiting Lambda's minutes; one more
test restarts a node of its own mid-delivery.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.functions_support import create
from tests.support import NodeThread, free_port_settings, wait_for

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("node"), function_retry_seconds=0)).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def lam(node: NodeThread) -> Any:
    return node.client("lambda")


def queue(node: NodeThread, name: str) -> tuple[str, str]:
    """A fresh queue's URL and ARN."""
    sqs = node.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def receive_one(node: NodeThread, url: str, timeout: float = 60) -> dict[str, Any]:
    """The next message on ``url`` (deleted), with its attributes."""
    sqs = node.client("sqs")

    def one() -> dict[str, Any] | None:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                   MessageAttributeNames=["All"]).get("Messages", [])
        if msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
            return msgs[0]
        return None

    return wait_for(one, timeout, what=f"a message on {url}")


FLAKY = """
def handler(event, context):
    if event.get("fail"):
        raise RuntimeError(f"failing on purpose: {event['n']}")
    return {"ok": event["n"]}
"""


def invoke_async(lam: Any, name: str, event: Any) -> None:
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event))
    assert resp["StatusCode"] == 202 and resp["Payload"].read() == b""


def stats(node: NodeThread, name: str) -> dict[str, int]:
    return dict(node.node.functions.invoker.stats.get(name, {}))  # type: ignore[union-attr]


def test_success_goes_to_the_on_success_queue(node: NodeThread, lam: Any) -> None:
    url, arn = queue(node, "async-success")
    create(lam, "async-ok", FLAKY)
    lam.put_function_event_invoke_config(FunctionName="async-ok", DestinationConfig={"OnSuccess": {"Destination": arn}})
    invoke_async(lam, "async-ok", {"n": 1})
    record = json.loads(receive_one(node, url)["Body"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["functionArn"].endswith(":function:async-ok:$LATEST")
    assert (record["requestPayload"], record["responsePayload"]) == ({"n": 1}, {"ok": 1})
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}


def test_failures_are_retried_then_sent_on_failure_and_dead_lettered(node: NodeThread, lam: Any) -> None:
    failure_url, failure_arn = queue(node, "async-failure")
    dlq_url, dlq_arn = queue(node, "async-dlq")
    create(lam, "async-fails", FLAKY, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName="async-fails", MaximumRetryAttempts=1,
                                         DestinationConfig={"OnFailure": {"Destination": failure_arn}})
    invoke_async(lam, "async-fails", {"n": 2, "fail": True})
    record = json.loads(receive_one(node, failure_url)["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2  # the first try and its one retry
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "failing on purpose: 2"
    dead = receive_one(node, dlq_url)
    assert json.loads(dead["Body"]) == {"n": 2, "fail": True}
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["ErrorMessage"] == "failing on purpose: 2" and attributes["RequestID"]
    assert stats(node, "async-fails")["invocations"] == 2


def test_lambdas_default_is_two_retries(node: NodeThread, lam: Any) -> None:
    dlq_url, dlq_arn = queue(node, "async-default-dlq")
    create(lam, "async-default", FLAKY, DeadLetterConfig={"TargetArn": dlq_arn})
    invoke_async(lam, "async-default", {"n": 3, "fail": True})
    receive_one(node, dlq_url)
    assert stats(node, "async-default")["invocations"] == 3


def test_destinations_on_a_bus_and_in_another_function(node: NodeThread, lam: Any) -> None:
    events = node.client("events")
    url, arn = queue(node, "async-bus-results")
    events.create_event_bus(Name="results")
    events.put_rule(Name="results", EventBusName="results", EventPattern=json.dumps({"source": ["lambda"]}))
    events.put_targets(Rule="results", EventBusName="results", Targets=[{"Id": "q", "Arn": arn}])
    node.client("s3").create_bucket(Bucket="async-sink")
    create(lam, "async-sink", """
        import json, boto3

        def handler(event, context):
            boto3.client("s3").put_object(Bucket="async-sink", Key=event["requestContext"]["requestId"],
                                          Body=json.dumps(event).encode())
    """, Timeout=30)
    create(lam, "async-chained", FLAKY)
    lam.put_function_event_invoke_config(FunctionName="async-chained", DestinationConfig={
        "OnSuccess": {"Destination": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/results"},
        "OnFailure": {"Destination": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:async-sink"}})
    lam.put_function_event_invoke_config(FunctionName="async-sink", MaximumRetryAttempts=0)

    invoke_async(lam, "async-chained", {"n": 4})
    event = json.loads(receive_one(node, url)["Body"])
    assert event["detail-type"] == "Lambda Function Invocation Result - Success"
    assert event["source"] == "lambda" and event["detail"]["responsePayload"] == {"ok": 4}

    lam.put_function_event_invoke_config(FunctionName="async-chained", MaximumRetryAttempts=0, DestinationConfig={
        "OnFailure": {"Destination": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:async-sink"}})
    invoke_async(lam, "async-chained", {"n": 5, "fail": True})
    s3 = node.client("s3")
    key = wait_for(lambda: [o["Key"] for o in s3.list_objects_v2(Bucket="async-sink").get("Contents", [])], 60,
                   what="the failure record in the sink function")[0]
    record = json.loads(s3.get_object(Bucket="async-sink", Key=key)["Body"].read())
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"n": 5, "fail": True}


def test_an_event_past_its_maximum_age_is_failed_without_running(node: NodeThread, lam: Any) -> None:
    url, arn = queue(node, "async-too-old")
    create(lam, "async-old", FLAKY)
    lam.put_function_event_invoke_config(FunctionName="async-old", MaximumEventAgeInSeconds=60,
                                         DestinationConfig={"OnFailure": {"Destination": arn}})
    # An invocation that has waited two minutes on the queue, as after a long outage.
    sqs = node.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=node.settings.queue_name("functions-async"))["QueueUrl"],
                     MessageBody=json.dumps({"FunctionName": "async-old", "Qualifier": None, "RequestId": "old-1",
                                             "Payload": '{"n": 6}', "Attempt": 0,
                                             "EnqueuedMs": int(time.time() * 1000) - 120_000}))
    record = json.loads(receive_one(node, url)["Body"])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["requestId"] == "old-1"
    assert stats(node, "async-old").get("invocations", 0) == 0


def test_a_throttled_event_waits_and_is_not_lost(node: NodeThread, lam: Any) -> None:
    url, arn = queue(node, "async-throttled")
    create(lam, "async-held", FLAKY)
    lam.put_function_event_invoke_config(FunctionName="async-held", DestinationConfig={"OnSuccess": {"Destination": arn}})
    lam.put_function_concurrency(FunctionName="async-held", ReservedConcurrentExecutions=0)
    invoke_async(lam, "async-held", {"n": 7})
    wait_for(lambda: stats(node, "async-held").get("throttles", 0) >= 1, 30, what="the invocation to be throttled")
    lam.delete_function_concurrency(FunctionName="async-held")
    record = json.loads(receive_one(node, url)["Body"])
    assert record["requestPayload"] == {"n": 7}


def test_nothing_is_lost_when_the_node_restarts_mid_delivery(tmp_path: Path) -> None:
    state = tmp_path / "node"
    gate = tmp_path / "gate"
    first = NodeThread(free_port_settings(state)).start()
    try:
        lam = first.client("lambda")
        url, arn = queue(first, "restart-results")
        create(lam, "restarted", """
            import os, time

            def handler(event, context):
                while not os.path.exists(event["gate"]):
                    time.sleep(0.01)
                return "delivered"
        """, Timeout=120)
        lam.put_function_event_invoke_config(FunctionName="restarted",
                                             DestinationConfig={"OnSuccess": {"Destination": arn}})
        invoke_async(lam, "restarted", {"gate": str(gate)})
        pool = first.node.functions.pool  # type: ignore[union-attr]
        wait_for(lambda: pool.in_flight.get("restarted") == 1, 30, what="the Event invocation to be running")
    finally:
        first.stop()  # mid-invocation: the environment is killed, the message stays on the queue
    assert not first._thread.is_alive()  # the first node is gone: only the second can deliver
    gate.touch()
    second = NodeThread(free_port_settings(state)).start()
    try:
        record = json.loads(receive_one(second, second.client("sqs").get_queue_url(
            QueueName="restart-results")["QueueUrl"], timeout=90)["Body"])
        assert record["responsePayload"] == "delivered"
        assert url  # the same queue, kept by the emulator across the restart
    finally:
        second.stop()
