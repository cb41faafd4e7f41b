"""The SAM template reader: short-form tags, intrinsics, Globals, Parameters, names, and refusals."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from infra.sam.cfn_yaml import loads
from infra.sam.intrinsics import TemplateError
from infra.sam.names import physical_name
from infra.sam.template import StackContext, read_template

HEAD = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
"""


def read(tmp_path: Path, body: str, overrides: dict[str, str] | None = None, stack: str = "demo"):
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return event\n")
    ctx = StackContext(stack, "eu-west-1", "111122223333", queue_url=lambda n: f"http://q.local/111122223333/{n}")
    return read_template(loads(HEAD + textwrap.dedent(body)), ctx, tmp_path, overrides)


FULL = """\
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Threshold: {Type: Number, Default: 0.9}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Runtime: python3.12
    Timeout: 30
    Environment:
      Variables:
        STAGE: !Ref Stage
        SHARED: g
Resources:
  Raw:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        EventBridgeConfiguration: {EventBridgeEnabled: true}
  Dlq:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub '${AWS::StackName}-work'
      VisibilityTimeout: 60
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 3}
  Clean:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      MemorySize: !If [IsProd, 1024, 256]
      Environment:
        Variables:
          OUT: !Join ['/', [!Ref Raw, datasets]]
          QUEUE: !Ref Work
          ARN: !Sub '${Work.Arn}|${AWS::Region}|${AWS::AccountId}|${!Literal}'
          LIMIT: !Ref Threshold
          NOTHING: !If [IsProd, x, !Ref AWS::NoValue]
      Events:
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Raw
            Events: s3:ObjectCreated:*
            Filter: {S3Key: {Rules: [{Name: prefix, Value: raw/}, {Name: suffix, Value: .csv}]}}
        Jobs:
          Type: SQS
          Properties: {Queue: !GetAtt Work.Arn, BatchSize: 5, FunctionResponseTypes: [ReportBatchItemFailures]}
        Done:
          Type: EventBridgeRule
          Properties:
            Pattern: {detail-type: [SageMaker Training Job State Change]}
            InputPath: $.detail
        Nightly:
          Type: Schedule
          Properties: {Schedule: 'cron(0 2 * * ? *)', Input: {retrain: true}, Enabled: false}
"""


def test_full_template_resolves(tmp_path: Path) -> None:
    stack = read(tmp_path, FULL)
    raw = physical_name("demo", "Raw", 63, lower=True)
    assert [b.name for b in stack.buckets] == [raw]
    assert raw == raw.lower() and raw.startswith("demo-raw-")
    dlq, work = stack.queues
    assert work.name == "demo-work" and dlq.name.startswith("demo-Dlq-")
    assert json.loads(work.attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": f"arn:aws:sqs:eu-west-1:111122223333:{dlq.name}", "maxReceiveCount": 3}
    assert work.attributes["VisibilityTimeout"] == "60"
    (fn,) = stack.functions
    assert fn.name.startswith("demo-Clean-") and fn.arn.endswith(f":function:{fn.name}")
    assert fn.config["Runtime"] == "python3.12" and fn.config["Timeout"] == 30 and fn.config["MemorySize"] == 256
    assert fn.config["Environment"]["Variables"] == {
        "STAGE": "dev", "SHARED": "g", "OUT": f"{raw}/datasets", "QUEUE": "http://q.local/111122223333/demo-work",
        "ARN": "arn:aws:sqs:eu-west-1:111122223333:demo-work|eu-west-1|111122223333|${Literal}", "LIMIT": "0.9"}
    (mapping,) = stack.mappings
    assert mapping.source_arn.endswith(":demo-work") and mapping.settings == {
        "BatchSize": 5, "FunctionResponseTypes": ["ReportBatchItemFailures"]}
    (notes,) = stack.notifications
    assert notes.eventbridge and notes.configuration()["LambdaFunctionConfigurations"] == [{
        "Id": "CleanUpload", "LambdaFunctionArn": fn.arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}, {"Name": "suffix", "Value": ".csv"}]}}}]
    done, nightly = stack.rules
    assert json.loads(done.rule["EventPattern"]) == {"detail-type": ["SageMaker Training Job State Change"]}
    assert done.target == {"Id": "CleanDoneLambdaTarget", "Arn": fn.arn, "InputPath": "$.detail"}
    assert nightly.rule["ScheduleExpression"] == "cron(0 2 * * ? *)" and nightly.rule["State"] == "DISABLED"
    assert json.loads(nightly.target["Input"]) == {"retrain": True}
    assert done.name.startswith("demo-CleanDone-") and len(nightly.name) <= 64


def test_overrides_and_conditions(tmp_path: Path) -> None:
    stack = read(tmp_path, FULL, {"Stage": "prod"})
    (fn,) = stack.functions
    assert fn.config["MemorySize"] == 1024
    assert fn.config["Environment"]["Variables"]["NOTHING"] == "x"
    assert fn.config["Environment"]["Variables"]["STAGE"] == "prod"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"Stage": "qa"}, "Parameters.Stage: 'qa' is not one of its AllowedValues"),
    ({"Nope": "1"}, "Nope not declared in Parameters"),
    ({"Threshold": "high"}, "Parameters.Threshold: 'high' is not a Number"),
])
def test_bad_overrides(tmp_path: Path, overrides: dict[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(")):
        read(tmp_path, FULL, overrides)


def test_names_are_deterministic_and_fit() -> None:
    a = physical_name("stack", "Fn")
    assert a == physical_name("stack", "Fn") != physical_name("stack2", "Fn")
    long = physical_name("s" * 60, "L" * 60, 64)
    assert len(long) == 64 and long.startswith("sss") and "-LLL" in long
    assert len(physical_name("x" * 100, "Bucket", 63, lower=True)) <= 63


FUNCTION = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.11
"""


@pytest.mark.parametrize(("body", "message"), [
    ("Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n", "T: resource type AWS::DynamoDB::Table is not supported"),
    (FUNCTION + "      Layers: [x]\n", "Fn: property Layers is not supported for AWS::Serverless::Function"),
    (FUNCTION + "      Events:\n        A:\n          Type: Api\n", "Fn.Events.A: event type Api is not supported"),
    (FUNCTION + "      Events:\n        A:\n          Type: SQS\n          Properties: {Queue: q, FilterCriteria: {}}\n",
     "Fn.Events.A: property FilterCriteria is not supported for SQS events"),
    (FUNCTION + "      Description: !GetAtt Fn.Nope\n", r"Fn.Properties.Description: Fn::GetAtt Fn.Nope is not supported"),
    (FUNCTION + "      Description: !Ref Missing\n", "'Missing' is neither a parameter nor a resource"),
    (FUNCTION + "      Description: !FindInMap [a, b, c]\n", "Fn::FindInMap is not supported"),
    (FUNCTION.replace("src", "nowhere"), "Fn.Properties.CodeUri: .* is not a folder or a .zip file"),
    (FUNCTION.replace("python3.11", "nodejs20.x"), "Fn.Properties.Runtime: nodejs20.x is not supported"),
    (FUNCTION + "      Events:\n        U:\n          Type: S3\n          Properties: {Bucket: raw, Events: x}\n",
     "Fn.Events.U.Bucket: must be !Ref to an AWS::S3::Bucket"),
    ("Globals:\n  Api: {}\n" + FUNCTION, "Globals: Api not supported"),
])
def test_unsupported_is_refused_naming_where(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        read(tmp_path, body)


def test_function_without_transform_is_refused(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(TemplateError, match="needs 'Transform: AWS::Serverless-2016-10-31'"):
        read_template(loads(FUNCTION), StackContext("s"), tmp_path)


def test_globals_merge_maps_and_lists(tmp_path: Path) -> None:
    stack = read(tmp_path, "Globals:\n  Function:\n    Tags: {team: ml}\n    Handler: app.handler\n"
                           "    Runtime: python3.11\n" + FUNCTION.replace("      Handler: app.handler\n", "")
                 + "      Tags: {owner: me}\n      Role: arn:aws:iam::1:role/r\n")
    (fn,) = stack.functions
    assert fn.tags == {"team": "ml", "owner": "me"} and fn.config["Role"] == "arn:aws:iam::1:role/r"
