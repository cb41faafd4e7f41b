"""Provisioning on moto: the declared stack exists, and a second run changes nothing."""

from __future__ import annotations

import json

from handlers.registry import load_handlers
from infra.provision import provision
from infra.stack import declare_stack
from services.aws.session import AwsClients
from tests.support import NodeThread


def test_second_provisioning_changes_nothing(node: NodeThread) -> None:
    s = node.settings

    async def again() -> list[str]:
        async with AwsClients(s) as clients:
            return await provision(s, clients, declare_stack(s, load_handlers()))

    assert node.node is not None and len(node.node.changes) > 5  # the first run built the stack
    assert node.run(again()) == []


def test_queues_rules_and_notifications_are_wired(node: NodeThread) -> None:
    s = node.settings
    sqs, events, s3 = node.client("sqs"), node.client("events"), node.client("s3")
    for name in list(load_handlers()) + ["tasks"]:
        url = sqs.get_queue_url(QueueName=s.queue_name(name))["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        dlq_url = sqs.get_queue_url(QueueName=s.dlq_name(name))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert redrive["deadLetterTargetArn"] == dlq_arn and int(redrive["maxReceiveCount"]) >= 2
        assert "events.amazonaws.com" in attrs["Policy"]
    rule = s.queue_name("start-training-on-upload")
    [target] = events.list_targets_by_rule(Rule=rule, EventBusName="default")["Targets"]
    assert target["Arn"].endswith(":" + rule)
    assert events.describe_event_bus(Name=s.event_bus)["Name"] == s.event_bus
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket=s.data_bucket) or \
        s3.get_bucket_tagging(Bucket=s.data_bucket)["TagSet"]  # moto does not echo the EventBridge setting
