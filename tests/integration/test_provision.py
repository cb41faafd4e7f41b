"""Provisioning on moto: the declared stack exists, and a second run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from handlers.registry import load_handlers
from infra.cli.endpoints import env_exports, read_endpoints
from infra.provision import provision
from infra.sdk_defaults import write_sdk_defaults
from infra.stack import declare_stack
from services.aws.session import AwsClients
from tests.sdk_v3.support import exported
from tests.support import NodeThread


def test_second_provisioning_changes_nothing(node: NodeThread) -> None:
    s = node.settings

    async def again() -> list[str]:
        async with AwsClients(s) as clients:
            return await provision(s, clients, declare_stack(s, load_handlers()))

    assert node.node is not None and len(node.node.changes) > 5  # the first run built the stack
    assert node.run(again()) == []


def test_a_built_in_rule_a_user_disabled_stays_disabled(node: NodeThread) -> None:
    s, events = node.settings, node.client("events")
    rule = s.queue_name("start-training-on-upload")

    async def again() -> list[str]:
        async with AwsClients(s) as clients:
            return await provision(s, clients, declare_stack(s, load_handlers()))

    events.disable_rule(Name=rule)
    try:
        assert node.run(again()) == []
        assert events.describe_rule(Name=rule)["State"] == "DISABLED"
    finally:
        events.enable_rule(Name=rule)


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


def test_the_default_execution_role_exists_and_sagemaker_may_assume_it(node: NodeThread) -> None:
    iam = node.client("iam")
    role = iam.get_role(RoleName=node.settings.execution_role)["Role"]
    assert role["Arn"] == f"arn:aws:iam::{node.settings.account_id}:role/{node.settings.execution_role}"
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"} and statement["Action"] == "sts:AssumeRole"
    # What the SageMaker Python SDK v3 asks before it uses the role: every action allowed.
    resp = iam.simulate_principal_policy(PolicySourceArn=role["Arn"], ActionNames=[
        "sagemaker:CreateTrainingJob", "s3:GetObject", "ecr:GetAuthorizationToken", "logs:PutLogEvents"])
    assert {r["EvalDecision"] for r in resp["EvaluationResults"]} == {"allowed"}


def test_headwater_env_names_the_role_and_exports_a_session_of_it(node: NodeThread) -> None:
    exports = exported(env_exports(read_endpoints(node.settings.state_dir)))
    role = node.client("iam").get_role(RoleName=node.settings.execution_role)["Role"]["Arn"]
    assert exports["SAGEMAKER_EXECUTION_ROLE_ARN"] == role
    # The exported credentials act as that role (as in a SageMaker notebook), so code that takes its role from the
    # caller's identity finds it.
    sts = boto3.client("sts", endpoint_url=exports["AWS_ENDPOINT_URL"], region_name=exports["AWS_REGION"],
                       aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
                       aws_session_token=exports["AWS_SESSION_TOKEN"])
    arn = sts.get_caller_identity()["Arn"]
    assert arn.startswith(f"arn:aws:sts::{node.settings.account_id}:assumed-role/{node.settings.execution_role}/"), arn


def test_headwater_env_points_the_sagemaker_metrics_client_at_the_node(node: NodeThread,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's Run.log_metric sends BatchPutMetrics through boto3's sagemaker-metrics client.
    exports = exported(env_exports(read_endpoints(node.settings.state_dir)))
    for name, value in exports.items():
        monkeypatch.setenv(name, value)
    client = boto3.Session().client("sagemaker-metrics")
    assert client.meta.endpoint_url == node.endpoints["sagemaker"] == exports["AWS_ENDPOINT_URL_SAGEMAKER_METRICS"]
    with pytest.raises(ClientError) as err:  # the node answers it: no such trial component
        client.batch_put_metrics(TrialComponentName="none", MetricData=[
            {"MetricName": "m", "Value": 1.0, "Timestamp": 1_800_000_000}])
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"


def test_headwater_env_names_the_sdks_default_bucket(node: NodeThread, tmp_path: Path) -> None:
    # The SageMaker SDK would ask STS at AWS's endpoint for the account to name its default bucket.
    exports = exported(env_exports(read_endpoints(node.settings.state_dir)))
    config = yaml.safe_load(Path(exports["SAGEMAKER_ADMIN_CONFIG_OVERRIDE"]).read_text())
    assert config["SageMaker"]["PythonSDK"]["Modules"]["Session"] == {"DefaultS3Bucket": node.settings.artifacts_bucket}
    # On AWS the SDK finds the account itself: no file, nothing exported.
    on_aws = node.settings.model_copy(update={"aws_endpoint": "aws", "state_dir": tmp_path})
    assert write_sdk_defaults(on_aws) is None and list(tmp_path.iterdir()) == []
