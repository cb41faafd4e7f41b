"""Headwater's built-in handlers as functions a user replaces or wraps, and ``headwater rules`` showing user rules.

A user turns a built-in's rule off with ``DisableRule``, points a rule of
their own at a function of their own, and that function calls the built-in
through the Lambda API, as it would call any other function.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from infra.cli.commands import print_rules
from tests.integration.functions_support import create
from tests.support import NodeThread, free_port_settings, wait_for

ACCOUNT = "123456789012"
BUILTIN = "start-training-on-upload"

# The user's convention: ``incoming/<name>/<file>.csv``. Before the built-in, the file goes where the built-in
# expects it; the built-in runs through the Lambda API; after it, the function reports what it did.
WRAPPER = """
import json

import boto3


def handler(event, context):
    bucket, key = event["detail"]["bucket"]["name"], event["detail"]["object"]["key"]
    name, file = key.split("/")[1], key.rsplit("/", 1)[-1]
    s3 = boto3.client("s3")
    dest = f"datasets/{name}/train/{file}"
    s3.copy_object(Bucket=bucket, Key=dest, CopySource={"Bucket": bucket, "Key": key})
    etag = s3.head_object(Bucket=bucket, Key=dest)["ETag"].strip('"')
    detail = {**event["detail"], "object": {**event["detail"]["object"], "key": dest, "etag": etag}}
    resp = boto3.client("lambda").invoke(FunctionName="start-training-on-upload",
                                         Payload=json.dumps({**event, "detail": detail}))
    out = json.loads(resp["Payload"].read())
    if resp.get("FunctionError"):
        raise RuntimeError(f"the built-in failed: {out}")
    return {"built_in": out, "key": dest}
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("node"), function_retry_seconds=0)).start()
    yield n
    n.stop()


def _csv(rows: int = 40) -> bytes:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 2))
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([x @ np.array([1.0, -2.0]), x]), delimiter=",", fmt="%.4f")
    return buf.getvalue().encode()


def _user_rule(node: NodeThread) -> None:
    """The built-in's rule off; the user's rule on ``incoming/`` to the user's function, which wraps the built-in."""
    s = node.settings
    lam, events, sqs = node.client("lambda"), node.client("events"), node.client("sqs")
    events.disable_rule(Name=s.queue_name(BUILTIN))
    sqs.create_queue(QueueName="wrapped-results")
    create(lam, "my-trigger", WRAPPER, Timeout=60)
    lam.put_function_event_invoke_config(FunctionName="my-trigger", DestinationConfig={
        "OnSuccess": {"Destination": f"arn:aws:sqs:us-east-1:{ACCOUNT}:wrapped-results"}})
    events.put_rule(Name="my-incoming", Description="my own upload convention", EventPattern=json.dumps({
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [s.data_bucket]}, "object": {"key": [{"prefix": "incoming/"}]}}}))
    events.put_targets(Rule="my-incoming", Targets=[
        {"Id": "fn", "Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:my-trigger"}])


def test_a_users_own_trigger_convention_starts_training_through_a_function_wrapping_the_built_in(
        node: NodeThread) -> None:
    _user_rule(node)
    s3, sqs, sm = node.client("s3"), node.client("sqs"), node.client("sagemaker")
    s3.put_object(Bucket=node.settings.data_bucket, Key="incoming/wrapped-ds/part.csv", Body=_csv())

    url = sqs.get_queue_url(QueueName="wrapped-results")["QueueUrl"]
    got: list[dict[str, Any]] = []

    def delivered() -> bool:
        got.extend(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []))
        return bool(got)

    wait_for(delivered, 90, what="the user's function to finish")
    record = json.loads(got[0]["Body"])
    assert record["responsePayload"] == {"built_in": {"handled": 1}, "key": "datasets/wrapped-ds/train/part.csv"}
    jobs = sm.list_training_jobs(NameContains="wrapped-ds")["TrainingJobSummaries"]
    assert len(jobs) == 1, jobs  # started by the built-in, called by the user's function


def test_rules_lists_the_users_rules_beside_headwaters(node: NodeThread, capsys: pytest.CaptureFixture[str]) -> None:
    events = node.client("events")
    events.put_rule(Name="listed-rule", Description="mine", EventPattern=json.dumps({"source": ["my.app"]}))
    events.put_targets(Rule="listed-rule", Targets=[
        {"Id": "fn", "Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:some-function"}])
    events.put_rule(Name="listed-off", ScheduleExpression="rate(1 hour)", State="DISABLED")
    events.disable_rule(Name=node.settings.queue_name(BUILTIN))

    assert node.run(print_rules(node.settings)) == 0
    out = capsys.readouterr().out.splitlines()
    [builtin] = [i for i, line in enumerate(out) if line.startswith(f"{node.settings.queue_name(BUILTIN)} ")]
    assert "[DISABLED]" in out[builtin]
    [mine] = [i for i, line in enumerate(out) if line.startswith("listed-rule ")]
    assert "[ENABLED]" in out[mine] and "bus=default" in out[mine] and "(yours)" in out[mine]
    assert "function some-function" in out[mine + 1]
    assert '"source": ["my.app"]' in out[mine + 2]
    [off] = [i for i, line in enumerate(out) if line.startswith("listed-off ")]
    assert "[DISABLED]" in out[off] and "schedule: rate(1 hour)" in "\n".join(out[off:off + 3])
