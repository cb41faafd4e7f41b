"""``headwater deploy template.yaml`` against a real node: create, redeploy unchanged, update, delete, watch."""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from infra.cli.deploy import deploy_session, run_deploy
from infra.cli.main import main
from infra.sam.deploy import DeployResult
from tests.integration.functions_support import call
from tests.support import wait_for

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String, Default: hello}
Globals:
  Function:
    Runtime: python3.11
    Timeout: 10
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        EventBridgeConfiguration: {EventBridgeEnabled: true}
  Dead:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dead.Arn, maxReceiveCount: 2}
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: greeter/
      Handler: app.handler
      Environment:
        Variables:
          GREETING: !Ref Greeting
          QUEUE_URL: !Ref Work
          BUCKET: !Ref Uploads
      Events:
        Raw:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
            Filter: {S3Key: {Rules: [{Name: prefix, Value: raw/}]}}
        Trained:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [headwater.sagemaker], detail-type: [SageMaker Training Job State Change]}
            InputPath: $.detail
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day), Input: '{"nightly": true}'}
"""

APP = """\
import os

VERSION = {version}


def handler(event, context):
    return {{"greeting": os.environ["GREETING"], "version": VERSION, "bucket": os.environ["BUCKET"]}}
"""


def write_app(folder: Path, version: int) -> None:
    (folder / "greeter").mkdir(parents=True, exist_ok=True)
    (folder / "greeter" / "app.py").write_text(APP.format(version=version))


def deploy(node: Any, template: Path, stack: str, overrides: dict[str, str] | None = None) -> DeployResult:
    """One deploy as ``headwater deploy`` makes it; what it printed is in the result's ``changes``."""
    async def run() -> DeployResult:
        async with deploy_session(node.settings, out=lambda line: None) as session:
            return await session.deploy(template, stack, overrides or {})
    return asyncio.run(run())


def changes(result: DeployResult) -> set[tuple[str, str]]:
    return {(change, logical_id) for change, _, logical_id, _ in result.changes}


def physical(result: DeployResult, logical_id: str) -> str:
    return next(p for _, _, lid, p in result.changes if lid == logical_id)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sam")
    (folder / "template.yaml").write_text(TEMPLATE)
    write_app(folder, 1)
    return folder


@pytest.fixture(scope="module")
def first(node: Any, project: Path) -> DeployResult:
    return deploy(node, project / "template.yaml", "it-sam")


def test_first_deploy_creates_everything(node: Any, project: Path, first: DeployResult) -> None:
    assert changes(first) == {("created", lid) for lid in (
        "Uploads", "Dead", "Work", "Greeter", "GreeterTrained", "GreeterNightly", "Uploads.NotificationConfiguration")}
    lam, s3, events, sqs = (node.client(s) for s in ("lambda", "s3", "events", "sqs"))
    fn, bucket = physical(first, "Greeter"), physical(first, "Uploads")
    assert fn.startswith("it-sam-Greeter-") and bucket.startswith("it-sam-uploads-")
    _, out = call(lam, fn, {})
    assert out == {"greeting": "hello", "version": 1, "bucket": bucket}
    config = lam.get_function_configuration(FunctionName=fn)
    assert config["Runtime"] == "python3.11" and config["Timeout"] == 10
    url = config["Environment"]["Variables"]["QUEUE_URL"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"].endswith(physical(first, "Dead"))
    notes = s3.get_bucket_notification_configuration(Bucket=bucket)
    (lambda_config,) = notes["LambdaFunctionConfigurations"]
    assert lambda_config["LambdaFunctionArn"] == config["FunctionArn"]
    # S3 answers the rule's name as "Prefix"; moto as it was given
    assert [(r["Name"].lower(), r["Value"]) for r in lambda_config["Filter"]["Key"]["FilterRules"]] == [
        ("prefix", "raw/")]
    # (EventBridgeConfiguration is sent too, but moto does not return it on read.)
    rule = physical(first, "GreeterTrained")
    assert json.loads(events.describe_rule(Name=rule)["EventPattern"])["detail-type"] == [
        "SageMaker Training Job State Change"]
    (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert target["Arn"] == config["FunctionArn"] and target["InputPath"] == "$.detail"
    nightly = physical(first, "GreeterNightly")
    assert events.describe_rule(Name=nightly)["ScheduleExpression"] == "rate(1 day)"
    assert events.list_targets_by_rule(Rule=nightly)["Targets"][0]["Input"] == '{"nightly": true}'


def test_second_deploy_changes_nothing_and_writes_nothing(node: Any, project: Path, first: DeployResult) -> None:
    lam, s3 = node.client("lambda"), node.client("s3")
    fn = physical(first, "Greeter")
    revision = lam.get_function_configuration(FunctionName=fn)["RevisionId"]
    record = s3.head_object(Bucket=node.settings.system_bucket, Key="state/sam-stacks/it-sam.json")["ETag"]
    again = deploy(node, project / "template.yaml", "it-sam")
    assert again.changes == [] and again.writes == []
    assert lam.get_function_configuration(FunctionName=fn)["RevisionId"] == revision
    assert s3.head_object(Bucket=node.settings.system_bucket, Key="state/sam-stacks/it-sam.json")["ETag"] == record


def test_cli_prints_no_changes(node: Any, project: Path, first: DeployResult, capsys: Any) -> None:
    rc = main(["--state-dir", str(node.settings.state_dir), "deploy", str(project / "template.yaml"),
               "--stack-name", "it-sam"])
    assert rc == 0
    assert "Stack it-sam is up to date: no changes." in capsys.readouterr().out


def test_update_code_parameter_and_event_then_remove(node: Any, project: Path, first: DeployResult) -> None:
    lam, events, sqs = node.client("lambda"), node.client("events"), node.client("sqs")
    fn, nightly = physical(first, "Greeter"), physical(first, "GreeterNightly")
    write_app(project, 2)
    edited = project / "edited.yaml"
    edited.write_text(TEMPLATE.replace("rate(1 day)", "rate(12 hours)"))
    result = deploy(node, edited, "it-sam", {"Greeting": "hi"})
    assert changes(result) == {("updated", "Greeter"), ("updated", "GreeterNightly")}
    assert set(result.writes) >= {"lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                                  "events:PutRule"}
    _, out = call(lam, fn, {})
    assert out["greeting"] == "hi" and out["version"] == 2
    assert events.describe_rule(Name=nightly)["ScheduleExpression"] == "rate(12 hours)"

    # The schedule and the queues leave the template: they are deleted, the rest is left alone.
    work_url = sqs.get_queue_url(QueueName=physical(first, "Work"))["QueueUrl"]
    removed = TEMPLATE.replace("rate(1 day)", "rate(12 hours)")
    removed = removed[:removed.index("        Nightly:")]
    removed = removed.replace("          QUEUE_URL: !Ref Work\n", "")
    removed = removed.replace(removed[removed.index("  Dead:"):removed.index("  Greeter:")], "")
    edited.write_text(removed)
    result = deploy(node, edited, "it-sam", {"Greeting": "hi"})
    assert changes(result) == {("deleted", "GreeterNightly"), ("deleted", "Work"), ("deleted", "Dead"),
                               ("updated", "Greeter")}
    assert not [n for n in events.list_rules()["Rules"] if n["Name"] == nightly]
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_attributes(QueueUrl=work_url, AttributeNames=["All"])
    assert deploy(node, edited, "it-sam", {"Greeting": "hi"}).changes == []


class WatchThread:
    """``headwater deploy --watch`` on a loop of its own, stopped as Ctrl-C stops it."""

    def __init__(self, node: Any, template: Path, stack: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.loop.run_until_complete(run_deploy(node.settings, template, stack, {}, watching=True,
                                                        stop=self.stop, poll_seconds=0.2))
            except BaseException as err:  # noqa: BLE001 - reported to the test
                self.error = err

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(60)
        assert not self.thread.is_alive() and self.error is None


def test_watch_redeploys_on_a_code_change(node: Any, tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(textwrap.dedent("""\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Echo:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: fn, Handler: main.handler, Runtime: python3.12, FunctionName: it-sam-watched}
        """))
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "main.py").write_text("def handler(event, context):\n    return 'first'\n")
    lam = node.client("lambda")
    watcher = WatchThread(node, tmp_path / "template.yaml", "it-sam-watch")
    try:
        wait_for(lambda: _try_call(lam, "it-sam-watched") == "first", 60, what="the first deploy")
        (tmp_path / "fn" / "main.py").write_text("def handler(event, context):\n    return 'second, edited'\n")
        wait_for(lambda: _try_call(lam, "it-sam-watched") == "second, edited", 60, what="the redeploy")
    finally:
        watcher.close()


def _try_call(lam: Any, name: str) -> Any:
    try:
        return call(lam, name, {})[1]
    except lam.exceptions.ResourceNotFoundException:
        return None
    except lam.exceptions.ResourceConflictException:  # Pending while the first deploy unpacks it
        return None


SQS_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: main.handler
      Runtime: python3.11
      Events:
        Batch:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: {batch}
            FunctionResponseTypes: [ReportBatchItemFailures]
"""


WORKER = """\
import boto3


def handler(event, context):
    s3 = boto3.client("s3")
    for record in event["Records"]:
        s3.put_object(Bucket="it-sam-sqs-out", Key=record["body"], Body=b"done")
    return {"batchItemFailures": []}
"""


def test_sqs_event_becomes_an_event_source_mapping(node: Any, tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "main.py").write_text(WORKER)
    s3, sqs = node.client("s3"), node.client("sqs")
    s3.create_bucket(Bucket="it-sam-sqs-out")
    template = tmp_path / "template.yaml"
    template.write_text(SQS_TEMPLATE.format(batch=5))
    first = deploy(node, template, "it-sam-sqs")
    lam = node.client("lambda")
    (mapping,) = lam.list_event_source_mappings(FunctionName=physical(first, "Worker"))["EventSourceMappings"]
    assert mapping["BatchSize"] == 5 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["EventSourceArn"].endswith(":" + physical(first, "Jobs"))
    url = sqs.get_queue_url(QueueName=physical(first, "Jobs"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="job-1")
    wait_for(lambda: s3.list_objects_v2(Bucket="it-sam-sqs-out").get("KeyCount"), 60,
             what="the mapping to deliver the message to the deployed function")
    template.write_text(SQS_TEMPLATE.format(batch=7))
    assert changes(deploy(node, template, "it-sam-sqs")) == {("updated", "WorkerBatch")}
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["BatchSize"] == 7


FLAKY = """\
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return "ok"
"""


def test_functions_lists_triggers_and_invocations(node: Any, tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "main.py").write_text(FLAKY)
    template = tmp_path / "template.yaml"
    template.write_text(SQS_TEMPLATE.format(batch=3).replace("Worker:", "Flaky:") + textwrap.indent(textwrap.dedent("""\
        Hourly:
          Type: Schedule
          Properties: {Schedule: rate(1 hour), Enabled: false}
        """), " " * 8))
    result = deploy(node, template, "it-sam-fns")
    fn, queue = physical(result, "Flaky"), physical(result, "Jobs")
    lam = node.client("lambda")
    call(lam, fn, {})
    call(lam, fn, {})
    assert call(lam, fn, {"fail": True})[0]["FunctionError"] == "Unhandled"
    argv = ["--state-dir", str(node.settings.state_dir), "functions"]

    def row() -> list[str] | None:
        assert main(argv) == 0
        out = capsys.readouterr().out
        line = next((ln.split() for ln in out.splitlines() if ln.startswith(fn + " ")), None)
        # the invocations come from the REPORT lines, the throttles from the metrics flushed once a second
        return line if line and line[2] == "3" and line[4] != "-" else None

    name, runtime, invocations, errors, throttles, p50, p99 = wait_for(row, 30, what="three REPORT lines and metrics")
    # Throttles come from the AWS/Lambda metrics: none here (each call waited for the one before).
    assert (runtime, errors, throttles) == ("python3.11", "1", "0") and float(p99) >= float(p50) > 0
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"  {fn}  <- sqs {queue} (batch 3, Enabled)" in out
    assert f"  {fn}  <- schedule rate(1 hour) {physical(result, 'FlakyHourly')} on default [DISABLED]" in out
