"""The data bucket's notification configuration is shared: provisioning adds Headwater's part and keeps the user's.

Headwater needs S3 -> EventBridge on its data bucket (its upload rules match
those events); a user adds ``LambdaFunctionConfigurations``,
``TopicConfigurations`` or queue configurations of their own to the same
bucket. ``PutBucketNotificationConfiguration`` replaces the whole
configuration, so a user's put may drop Headwater's part, and provisioning
at the next node start must put it back without dropping theirs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from handlers.registry import load_handlers
from infra.provision import provision
from infra.stack import declare_stack
from services.aws.session import AwsClients
from tests.integration.functions_support import create
from tests.support import NodeThread, free_port_settings, wait_for

ACCOUNT = "123456789012"
ECHO = """
def handler(event, context):
    return "ok"
"""


def _user_configuration(node: NodeThread, name: str) -> dict[str, Any]:
    """A user's function, topic and queue on the data bucket (and no EventBridge: the user's put drops it)."""
    sqs, sns, lam = node.client("sqs"), node.client("sns"), node.client("lambda")
    sqs.create_queue(QueueName=f"{name}-results")
    sqs.create_queue(QueueName=f"{name}-uploads")
    topic = sns.create_topic(Name=f"{name}-topic")["TopicArn"]
    create(lam, name, ECHO)
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={
        "OnSuccess": {"Destination": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}-results"}})
    return {
        "LambdaFunctionConfigurations": [{
            "Id": "clean", "LambdaFunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}",
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": f"{name}/raw/"}]}}}],
        "TopicConfigurations": [{"Id": "removed", "TopicArn": topic, "Events": ["s3:ObjectRemoved:*"]}],
        "QueueConfigurations": [{"Id": "audit", "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}-uploads",
                                 "Events": ["s3:ObjectCreated:*"]}],
    }


def _eventbridge_watch(node: NodeThread, name: str) -> str:
    """A user rule with a queue target on the data bucket's S3 events: its queue URL."""
    sqs, events = node.client("sqs"), node.client("events")
    url = sqs.create_queue(QueueName=f"{name}-eventbridge")["QueueUrl"]
    events.put_rule(Name=f"{name}-eventbridge", EventPattern=json.dumps({
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [node.settings.data_bucket]}, "object": {"key": [{"prefix": f"{name}/"}]}}}))
    events.put_targets(Rule=f"{name}-eventbridge", Targets=[
        {"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}-eventbridge"}])
    return url


def _without_ids(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((json.dumps({k: v for k, v in c.items() if k != "Id"}, sort_keys=True) for c in configs))


def _received(node: NodeThread, queue: str, what: str) -> dict[str, Any]:
    sqs = node.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    got: list[dict[str, Any]] = []

    def one() -> bool:
        # S3 sends an "s3:TestEvent" to a queue when a configuration naming it is put: not an upload.
        got.extend(m for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
                   if json.loads(m["Body"]).get("Event") != "s3:TestEvent")
        return bool(got)

    wait_for(one, 60, what=what)
    assert len(got) == 1, got
    return json.loads(got[0]["Body"])


def _assert_both_parts_deliver(node: NodeThread, name: str, user: dict[str, Any]) -> None:
    s3 = node.client("s3")
    have = s3.get_bucket_notification_configuration(Bucket=node.settings.data_bucket)
    for key in ("LambdaFunctionConfigurations", "TopicConfigurations"):
        assert _without_ids(have.get(key, [])) == _without_ids(user[key]), key
    [audit] = [q for q in have.get("QueueConfigurations", []) if q["QueueArn"].endswith(f":{name}-uploads")]
    assert audit["Id"] == "audit"
    s3.put_object(Bucket=node.settings.data_bucket, Key=f"{name}/raw/a.csv", Body=b"x\n")
    # The user's function, the user's queue, and Headwater's EventBridge part (a rule on the S3 events) all see it.
    assert _received(node, f"{name}-results", "the user's function")["requestPayload"]["Records"][0]["s3"][
        "object"]["key"] == f"{name}/raw/a.csv"
    # (moto's queue notifications encode the slashes of the key; S3's do not)
    assert unquote_plus(_received(node, f"{name}-uploads", "the user's queue")["Records"][0]["s3"]["object"]["key"]) \
        == f"{name}/raw/a.csv"
    assert _received(node, f"{name}-eventbridge", "S3 -> EventBridge")["detail"]["object"]["key"] == \
        f"{name}/raw/a.csv"


def test_provisioning_again_puts_headwaters_part_back_and_keeps_the_users(node: NodeThread) -> None:
    s = node.settings
    user = _user_configuration(node, "nb-again")
    _eventbridge_watch(node, "nb-again")
    s3 = node.client("s3")
    s3.put_bucket_notification_configuration(Bucket=s.data_bucket, NotificationConfiguration=user)
    # The user's own tagging replaces the set too (and with it the tag Headwater keeps there).
    s3.put_bucket_tagging(Bucket=s.data_bucket, Tagging={"TagSet": [{"Key": "team", "Value": "ml"}]})

    async def again() -> list[str]:
        async with AwsClients(s) as clients:
            return await provision(s, clients, declare_stack(s, load_handlers()))

    assert node.run(again()) == [f"set notifications of bucket {s.data_bucket}"]
    assert node.run(again()) == []
    assert {"Key": "team", "Value": "ml"} in s3.get_bucket_tagging(Bucket=s.data_bucket)["TagSet"]
    _assert_both_parts_deliver(node, "nb-again", user)


def test_a_users_notifications_on_the_data_bucket_survive_a_node_restart(tmp_path: Path) -> None:
    state = tmp_path / "node"
    first = NodeThread(free_port_settings(state)).start()
    try:
        user = _user_configuration(first, "nb-restart")
        _eventbridge_watch(first, "nb-restart")
        first.client("s3").put_bucket_notification_configuration(Bucket=first.settings.data_bucket,
                                                                 NotificationConfiguration=user)
    finally:
        first.stop()
    again = NodeThread(free_port_settings(state)).start()
    try:
        _assert_both_parts_deliver(again, "nb-restart", user)
    finally:
        again.stop()
