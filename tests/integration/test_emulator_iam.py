"""The embedded emulator answers IAM's SimulatePrincipalPolicy as IAM does (moto alone answers an HTML 500).

boto3 drives the real emulator; decisions follow the principal's identity policies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def iam(emulator: str) -> Any:
    return boto3.client("iam", endpoint_url=emulator, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def role(iam: Any) -> Iterator[str]:
    """A role with an inline policy and an attached managed one."""
    arn = iam.create_role(RoleName="sim", Path="/service-role/", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName="sim", PolicyName="inline", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": ["s3:Get*", "SageMaker:CreateTrainingJob"], "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secret/*"}))
    managed = iam.create_policy(PolicyName="logs", PolicyDocument=_policy(
        {"Effect": "Allow", "NotAction": "logs:Delete*", "Resource": "arn:aws:logs:*:*:*"}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="sim", PolicyArn=managed)
    yield arn


def _decisions(resp: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in resp["EvaluationResults"]}


def test_decisions_follow_the_roles_inline_and_attached_policies(iam: Any, role: str) -> None:
    resp = iam.simulate_principal_policy(
        PolicySourceArn=role,
        ActionNames=["s3:GetObject", "sagemaker:createtrainingjob", "s3:PutObject", "logs:PutLogEvents",
                     "logs:DeleteLogGroup"],
        ResourceArns=["arn:aws:s3:::data/x", "arn:aws:s3:::secret/key", "arn:aws:logs:us-east-1:1:log-group:g"])
    got = _decisions(resp)
    assert got[("s3:GetObject", "arn:aws:s3:::data/x")] == "allowed"  # s3:Get* on *
    assert got[("s3:GetObject", "arn:aws:s3:::secret/key")] == "explicitDeny"  # a Deny wins
    assert got[("sagemaker:createtrainingjob", "arn:aws:s3:::data/x")] == "allowed"  # actions ignore case
    assert got[("s3:PutObject", "arn:aws:s3:::data/x")] == "implicitDeny"  # nothing allows it
    assert got[("logs:PutLogEvents", "arn:aws:logs:us-east-1:1:log-group:g")] == "allowed"  # NotAction
    assert got[("logs:DeleteLogGroup", "arn:aws:logs:us-east-1:1:log-group:g")] == "implicitDeny"
    assert len(got) == 15 and resp["IsTruncated"] is False
    [allowed] = [r for r in resp["EvaluationResults"]
                 if (r["EvalActionName"], r["EvalResourceName"]) == ("s3:GetObject", "arn:aws:s3:::data/x")]
    assert allowed["MatchedStatements"] == [{"SourcePolicyId": "inline", "SourcePolicyType": "role"}]


def test_without_resource_arns_every_resource_is_simulated(iam: Any, role: str) -> None:
    resp = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["s3:GetObject", "ecr:BatchGetImage"])
    assert _decisions(resp) == {("s3:GetObject", "*"): "allowed", ("ecr:BatchGetImage", "*"): "implicitDeny"}


def test_the_paginator_reads_every_page(iam: Any, role: str) -> None:
    actions = [f"s3:GetThing{i}" for i in range(5)]
    pages = list(iam.get_paginator("simulate_principal_policy").paginate(
        PolicySourceArn=role, ActionNames=actions, PaginationConfig={"PageSize": 2}))
    assert [len(p["EvaluationResults"]) for p in pages] == [2, 2, 1]
    assert [r["EvalActionName"] for p in pages for r in p["EvaluationResults"]] == actions


def test_a_user_principal_is_simulated_too(iam: Any) -> None:
    arn = iam.create_user(UserName="dev")["User"]["Arn"]
    iam.put_user_policy(UserName="dev", PolicyName="p", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "*", "Resource": "*"}))
    resp = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["iam:PassRole"])
    assert _decisions(resp) == {("iam:PassRole", "*"): "allowed"}


def test_a_missing_principal_is_no_such_entity(iam: Any, role: str) -> None:
    with pytest.raises(ClientError) as err:
        iam.simulate_principal_policy(PolicySourceArn=role.replace("/sim", "/nobody"), ActionNames=["s3:GetObject"])
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_source_that_is_not_a_principal_is_invalid_input(iam: Any) -> None:
    with pytest.raises(ClientError) as err:
        iam.simulate_principal_policy(PolicySourceArn="arn:aws:s3:::some-bucket", ActionNames=["s3:GetObject"])
    assert err.value.response["Error"]["Code"] == "InvalidInput"


def test_other_requests_still_reach_the_emulator(emulator: str, iam: Any, role: str) -> None:
    # IAM reads and an S3 upload (a body the middleware must leave unread) go through unchanged. (A
    # form-encoded S3 object fails on moto with or without the middleware: its content type here is neutral.)
    assert iam.get_role(RoleName="sim")["Role"]["Arn"] == role
    s3 = boto3.client("s3", endpoint_url=emulator, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing", config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="iam-middleware")
    body = b"a=1&Action=SimulatePrincipalPolicy" * 1000
    s3.put_object(Bucket="iam-middleware", Key="k", Body=body)
    assert s3.get_object(Bucket="iam-middleware", Key="k")["Body"].read() == body
