"""Events that reach user functions on the embedded emulator: EventBridge rules, schedules and S3 notifications.

Functions are created with boto3's ``lambda`` client, rules and notifications
with its ``events`` and ``s3`` clients, exactly as on AWS. What a function
was given is read back from its ``OnSuccess`` destination queue, whose
record holds the invocation's ``requestPayload``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.functions_support import create
from tests.support import NodeThread, free_port_settings, wait_for

ACCOUNT = "123456789012"
ECHO = """
def handler(event, context):
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError("failing on purpose")
    return "ok"
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("node"), function_retry_seconds=0)).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def lam(node: NodeThread) -> Any:
    return node.client("lambda")


@pytest.fixture(scope="module")
def events(node: NodeThread) -> Any:
    return node.client("events")


def queue(node: NodeThread, name: str) -> tuple[str, str]:
    """A fresh queue's URL and ARN."""
    url = node.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def echo_function(node: NodeThread, lam: Any, name: str, **kwargs: Any) -> str:
    """A function that succeeds (unless its event says ``fail``) and reports each invocation on a queue; its URL."""
    url, arn = queue(node, f"{name}-results")
    create(lam, name, ECHO, **kwargs)
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}})
    return url


def messages(node: NodeThread, url: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The next ``count`` messages on ``url`` (deleted), with their attributes."""
    sqs, got = node.client("sqs"), []

    def enough() -> bool:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageAttributeNames=["All"]).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            got.append(m)
        return len(got) >= count

    wait_for(enough, timeout, what=f"{count} message(s) on {url}")
    return got


def payloads(node: NodeThread, url: str, count: int) -> list[Any]:
    """What the function was given in its next ``count`` invocations."""
    return [json.loads(m["Body"])["requestPayload"] for m in messages(node, url, count)]


def routed(node: NodeThread) -> int:
    """How many deliveries the emulator has queued for functions so far (it queues them before answering)."""
    assert node.node is not None and node.node.function_route is not None
    return node.node.function_route.delivered


def put_event(events: Any, detail: dict[str, Any], *, source: str = "my.app", detail_type: str = "Order",
              bus: str = "default") -> None:
    resp = events.put_events(Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail),
                                       "EventBusName": bus}])
    assert resp["FailedEntryCount"] == 0, resp


def test_a_rule_on_the_default_bus_and_one_on_a_custom_bus_invoke_their_functions(
        node: NodeThread, lam: Any, events: Any) -> None:
    url = echo_function(node, lam, "ev-orders")
    events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["my.app"], "detail-type": ["Order"]}))
    events.put_targets(Rule="orders", Targets=[{"Id": "fn", "Arn": function_arn("ev-orders")}])
    events.create_event_bus(Name="shop")
    events.put_rule(Name="shop-orders", EventBusName="shop", EventPattern=json.dumps({"source": ["my.app"]}))
    events.put_targets(Rule="shop-orders", EventBusName="shop",
                       Targets=[{"Id": "fn", "Arn": function_arn("ev-orders"), "Input": '{"from": "shop"}'}])

    put_event(events, {"order": 1})
    event = payloads(node, url, 1)[0]
    assert (event["source"], event["detail-type"], event["detail"]) == ("my.app", "Order", {"order": 1})
    assert event["account"] == ACCOUNT and event["time"].endswith("Z") and "ingestion-time" not in event
    put_event(events, {"order": 2}, bus="shop")
    assert payloads(node, url, 1) == [{"from": "shop"}]


def test_input_path_and_input_transformer(node: NodeThread, lam: Any, events: Any) -> None:
    url = echo_function(node, lam, "ev-shaped")
    events.put_rule(Name="shaped", EventPattern=json.dumps({"source": ["shaped.app"]}))
    events.put_targets(Rule="shaped", Targets=[
        {"Id": "path", "Arn": function_arn("ev-shaped"), "InputPath": "$.detail.order"},
        {"Id": "transformed", "Arn": function_arn("ev-shaped"), "InputTransformer": {
            "InputPathsMap": {"id": "$.detail.order.id", "kind": "$.detail-type"},
            "InputTemplate": '{"order": <id>, "text": "order <id> is a <kind>", "rule": "<aws.events.rule-name>"}'}},
    ])
    put_event(events, {"order": {"id": 7, "total": 3.5}}, source="shaped.app")
    got = payloads(node, url, 2)
    assert sorted(got, key=json.dumps) == sorted(
        [{"id": 7, "total": 3.5}, {"order": 7, "text": "order 7 is a Order", "rule": "shaped"}], key=json.dumps)


def test_patterns_match_as_eventbridge_matches(node: NodeThread, lam: Any, events: Any) -> None:
    url = echo_function(node, lam, "ev-patterns")
    pattern = {"source": ["pattern.app"], "detail": {
        "key": [{"prefix": "raw/"}], "name": [{"suffix": ".csv"}], "stage": [{"anything-but": ["test", "dev"]}],
        "size": [{"numeric": [">", 10, "<=", 100]}], "owner": [{"exists": True}], "draft": [{"exists": False}],
        "region": [{"equals-ignore-case": "EU-West-1"}], "path": [{"wildcard": "datasets/*/train/*"}],
        "$or": [{"priority": ["high"]}, {"urgent": [True]}],
    }}
    events.put_rule(Name="patterns", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="patterns", Targets=[{"Id": "fn", "Arn": function_arn("ev-patterns"),
                                                  "InputPath": "$.detail.n"}])
    good = {"key": "raw/a", "name": "a.csv", "stage": "prod", "size": 50, "owner": "me", "region": "eu-west-1",
            "path": "datasets/iris/train/part.csv", "priority": "high"}
    bad = [{"key": "cooked/a"}, {"name": "a.json"}, {"stage": "dev"}, {"size": 10}, {"size": 101}, {"draft": True},
           {"region": "us-east-1"}, {"path": "datasets/iris/test/x"}, {"priority": "low"}, {"size": "50"}]
    before = routed(node)
    for n, change in enumerate(bad):
        put_event(events, {**good, **change, "n": n}, source="pattern.app")
    put_event(events, {k: v for k, v in good.items() if k != "owner"} | {"n": "no owner"}, source="pattern.app")
    assert routed(node) == before  # matched at put time: none of them was queued
    put_event(events, {**good, "priority": "low", "urgent": True, "n": "urgent"}, source="pattern.app")
    put_event(events, {**good, "n": "good"}, source="pattern.app")
    assert routed(node) == before + 2
    assert sorted(payloads(node, url, 2)) == ["good", "urgent"]


def test_a_malformed_pattern_gets_eventbridges_error(events: Any) -> None:
    with pytest.raises(ClientError) as err:
        events.put_rule(Name="malformed", EventPattern=json.dumps({"source": "my.app"}))
    assert err.value.response["Error"]["Code"] == "InvalidEventPatternException"
    with pytest.raises(ClientError) as err:
        events.put_rule(Name="malformed", EventPattern="{not json")
    assert err.value.response["Error"]["Code"] == "InvalidEventPatternException"


def test_a_disabled_rule_and_a_schedule_only_rule_deliver_no_events(node: NodeThread, lam: Any, events: Any) -> None:
    url = echo_function(node, lam, "ev-quiet")
    events.put_rule(Name="quiet-disabled", EventPattern=json.dumps({"source": ["quiet.app"]}), State="DISABLED")
    events.put_rule(Name="quiet-schedule", ScheduleExpression="rate(1 day)")
    events.put_rule(Name="quiet-marker", EventPattern=json.dumps({"source": ["quiet.marker"]}))
    for rule in ("quiet-disabled", "quiet-schedule", "quiet-marker"):
        events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": function_arn("ev-quiet"), "Input": f'"{rule}"'}])
    before = routed(node)
    put_event(events, {"x": 1}, source="quiet.app")
    assert routed(node) == before
    put_event(events, {"x": 2}, source="quiet.marker")
    assert routed(node) == before + 1
    assert payloads(node, url, 1) == ["quiet-marker"]


def test_a_schedule_fires_its_function_on_time(node: NodeThread, lam: Any, events: Any) -> None:
    url = echo_function(node, lam, "ev-nightly")
    events.put_rule(Name="nightly", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="nightly", Targets=[{"Id": "fn", "Arn": function_arn("ev-nightly")}])
    schedules = node.node.schedules  # type: ignore[union-attr]
    assert schedules is not None
    now = datetime.now(timezone.utc)
    schedules.fire_due(now)  # the node's clock sees the rule: its first firing is a minute on
    assert schedules.fired.get(f"arn:aws:events:us-east-1:{ACCOUNT}:rule/nightly", 0) == 0
    assert schedules.fire_due(now + timedelta(seconds=61)) >= 1
    event = payloads(node, url, 1)[0]
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})
    assert event["resources"] == [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/nightly"]


def test_function_errors_are_retried_then_dead_lettered_and_a_missing_function_goes_to_the_targets_dlq(
        node: NodeThread, lam: Any, events: Any) -> None:
    dlq_url, dlq_arn = queue(node, "ev-failing-dlq")
    create(lam, "ev-failing", ECHO, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName="ev-failing", MaximumRetryAttempts=1)
    target_dlq_url, target_dlq_arn = queue(node, "ev-target-dlq")
    events.put_rule(Name="failing", EventPattern=json.dumps({"source": ["failing.app"]}))
    events.put_targets(Rule="failing", Targets=[
        {"Id": "fn", "Arn": function_arn("ev-failing"), "InputPath": "$.detail",
         "RetryPolicy": {"MaximumRetryAttempts": 3}, "DeadLetterConfig": {"Arn": target_dlq_arn}},
        {"Id": "gone", "Arn": function_arn("ev-no-such-function"), "InputPath": "$.detail",
         "DeadLetterConfig": {"Arn": target_dlq_arn}},
    ])
    put_event(events, {"fail": True, "n": 1}, source="failing.app")
    dead = messages(node, dlq_url, 1)[0]
    assert json.loads(dead["Body"]) == {"fail": True, "n": 1}
    assert dead["MessageAttributes"]["ErrorMessage"]["StringValue"] == "failing on purpose"
    assert dict(node.node.functions.invoker.stats["ev-failing"])["invocations"] == 2  # type: ignore[union-attr]
    lost = messages(node, target_dlq_url, 1)[0]
    assert json.loads(lost["Body"]) == {"fail": True, "n": 1}
    attributes = {k: v["StringValue"] for k, v in lost["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "RESOURCE_NOT_FOUND"
    assert attributes["RULE_ARN"].endswith(":rule/failing")
    assert attributes["TARGET_ARN"] == function_arn("ev-no-such-function")


def test_s3_notifications_and_s3_events_through_eventbridge_invoke_functions(
        node: NodeThread, lam: Any, events: Any) -> None:
    s3 = node.client("s3")
    s3.create_bucket(Bucket="ev-uploads")
    direct = echo_function(node, lam, "ev-on-upload")
    through_rule = echo_function(node, lam, "ev-on-upload-rule")
    s3.put_bucket_notification_configuration(Bucket="ev-uploads", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{
            "Id": "clean", "LambdaFunctionArn": function_arn("ev-on-upload"), "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"},
                                               {"Name": "suffix", "Value": ".csv"}]}}}],
        "EventBridgeConfiguration": {}})
    events.put_rule(Name="uploads", EventPattern=json.dumps({
        "source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": ["ev-uploads"]}}}))
    events.put_targets(Rule="uploads", Targets=[{"Id": "fn", "Arn": function_arn("ev-on-upload-rule"),
                                                 "InputPath": "$.detail.object.key"}])
    for key in ("raw/a b.csv", "raw/b.json", "other/c.csv"):
        s3.put_object(Bucket="ev-uploads", Key=key, Body=b"x,y\n")

    record = payloads(node, direct, 1)[0]["Records"][0]
    assert (record["eventSource"], record["eventName"]) == ("aws:s3", "ObjectCreated:Put")
    assert record["s3"]["bucket"]["name"] == "ev-uploads" and record["s3"]["configurationId"] == "clean"
    assert record["s3"]["object"]["key"] == "raw/a+b.csv" and record["s3"]["object"]["size"] == 4  # URL-encoded, as S3
    assert sorted(payloads(node, through_rule, 3)) == ["other/c.csv", "raw/a b.csv", "raw/b.json"]


def test_headwaters_own_job_state_changes_reach_a_user_rule(node: NodeThread, lam: Any, events: Any) -> None:
    url = echo_function(node, lam, "ev-on-trained")
    events.put_rule(Name="on-trained", EventBusName=node.settings.event_bus, EventPattern=json.dumps({
        "source": [node.settings.event_source], "detail-type": ["SageMaker Training Job State Change"],
        "detail": {"TrainingJobStatus": ["Completed"], "TrainingJobName": [{"prefix": "ev-job"}]}}))
    events.put_targets(Rule="on-trained", EventBusName=node.settings.event_bus, Targets=[
        {"Id": "fn", "Arn": function_arn("ev-on-trained"), "InputPath": "$.detail.TrainingJobName"}])
    sm = node.client("sagemaker")
    sm.create_training_job(
        TrainingJobName="ev-job", RoleArn="arn:aws:iam::123456789012:role/headwater-it",
        AlgorithmSpecification={"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                                "TrainingInputMode": "File", "ContainerEntrypoint": ["python3", "-c", "pass"]},
        OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/ev-job"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    assert payloads(node, url, 1) == ["ev-job"]


def test_nothing_is_lost_when_the_node_restarts_mid_delivery(tmp_path: Path) -> None:
    state, gate = tmp_path / "node", tmp_path / "gate"
    first = NodeThread(free_port_settings(state)).start()
    try:
        lam, events = first.client("lambda"), first.client("events")
        queue(first, "ev-restarted-results")
        create(lam, "ev-restarted-blocking", """
            import os, time

            def handler(event, context):
                while not os.path.exists(event["gate"]):
                    time.sleep(0.01)
                return "delivered"
        """, Timeout=120)
        lam.put_function_event_invoke_config(FunctionName="ev-restarted-blocking", DestinationConfig={
            "OnSuccess": {"Destination": f"arn:aws:sqs:us-east-1:{ACCOUNT}:ev-restarted-results"}})
        events.put_rule(Name="restarted", EventPattern=json.dumps({"source": ["restart.app"]}))
        events.put_targets(Rule="restarted", Targets=[{"Id": "fn", "Arn": function_arn("ev-restarted-blocking"),
                                                       "InputTransformer": {"InputPathsMap": {"g": "$.detail.gate"},
                                                                            "InputTemplate": '{"gate": <g>}'}}])
        put_event(events, {"gate": str(gate)}, source="restart.app")
        pool = first.node.functions.pool  # type: ignore[union-attr]
        wait_for(lambda: pool.in_flight.get("ev-restarted-blocking") == 1, 30, what="the delivery to be running")
    finally:
        first.stop()  # mid-invocation: the environment is killed, the delivery stays on the queue
    assert not first._thread.is_alive()
    gate.touch()
    second = NodeThread(free_port_settings(state)).start()
    try:
        url = second.client("sqs").get_queue_url(QueueName="ev-restarted-results")["QueueUrl"]
        assert payloads(second, url, 1) == [{"gate": str(gate)}]
    finally:
        second.stop()
