"""Rules and bucket notifications made on LocalStack reach functions served by Headwater's Lambda endpoint.

LocalStack's own Lambda is not running in this tier: a Lambda target's
delivery fails there, and a ``LambdaFunctionConfigurations`` entry is
skipped. Headwater bridges them to its functions (the README's "Events that
reach your functions"): each event runs the function once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.functions_support import create
from tests.support import NodeThread, free_port_settings, wait_for

pytestmark = pytest.mark.localstack

ECHO = """
def handler(event, context):
    return "ok"
"""


def _results(node: NodeThread, url: str, count: int) -> list[Any]:
    """The payloads of the function's next ``count`` successful invocations."""
    sqs, got = node.client("sqs"), []

    def enough() -> bool:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            got.append(json.loads(m["Body"])["requestPayload"])
        return len(got) >= count

    wait_for(enough, 60, what=f"{count} invocation(s)")
    return got


def test_a_rule_and_an_s3_notification_on_localstack_invoke_a_headwater_function_once(
        localstack_endpoint: str, tmp_path: Path) -> None:
    node = NodeThread(free_port_settings(tmp_path / "node", aws_endpoint=localstack_endpoint)).start()
    try:
        lam, events, s3, sqs = (node.client(n) for n in ("lambda", "events", "s3", "sqs"))
        url = sqs.create_queue(QueueName="ls-fn-results")["QueueUrl"]
        results = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        create(lam, "ls-echo", ECHO)
        lam.put_function_event_invoke_config(FunctionName="ls-echo",
                                             DestinationConfig={"OnSuccess": {"Destination": results}})
        arn = lam.get_function(FunctionName="ls-echo")["Configuration"]["FunctionArn"]
        events.put_rule(Name="ls-orders", EventPattern=json.dumps({"source": ["my.app"]}))
        events.put_targets(Rule="ls-orders", Targets=[{"Id": "fn", "Arn": arn, "InputPath": "$.detail"}])
        s3.create_bucket(Bucket="ls-uploads")
        s3.put_bucket_notification_configuration(Bucket="ls-uploads", NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"Id": "clean", "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
                                              "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}}}]})

        def bridged() -> bool:
            targets = events.list_targets_by_rule(Rule="ls-orders")["Targets"]
            queues = s3.get_bucket_notification_configuration(Bucket="ls-uploads").get("QueueConfigurations", [])
            return len(targets) == 2 and len(queues) == 1
        wait_for(bridged, 60, what="the rule and the notification bridged to the function")

        events.put_events(Entries=[{"Source": "my.app", "DetailType": "Order", "Detail": json.dumps({"n": 1})}])
        s3.put_object(Bucket="ls-uploads", Key="raw/a.csv", Body=b"x\n")
        s3.put_object(Bucket="ls-uploads", Key="other/b.csv", Body=b"x\n")  # filtered out
        got = _results(node, url, 2)
        assert {"n": 1} in got
        [record] = [p["Records"][0] for p in got if isinstance(p, dict) and "Records" in p]
        assert (record["eventSource"], record["s3"]["object"]["key"]) == ("aws:s3", "raw/a.csv")
        assert record["s3"]["configurationId"] == "clean"
        # A last event: whatever was delivered twice would be here before it.
        events.put_events(Entries=[{"Source": "my.app", "DetailType": "Order", "Detail": json.dumps({"n": 2})}])
        assert _results(node, url, 1) == [{"n": 2}]
    finally:
        node.stop()
