"""Identity as the SageMaker SDKs expect it, on LocalStack: the default execution role, its session, and
IAM's SimulatePrincipalPolicy (LocalStack 4.13 alone fails without ResourceArns); then the SDK v3's
ModelTrainer, which validates its role through them, trains against a node on LocalStack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.sdk_v3.support import exported, run_v3, v3_environment
from tests.story import UpProcess

ROLE = "headwater-sagemaker-execution"


@pytest.fixture(scope="module")
def up(localstack_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    node = UpProcess(tmp_path_factory.mktemp("identity") / "state", "--aws-endpoint", localstack_endpoint)
    try:
        node.wait_ready()
        yield node
    finally:
        node.kill()


@pytest.fixture(scope="module")
def exports(up: UpProcess) -> dict[str, str]:
    out = up.cli("env")
    assert out.returncode == 0, out.stderr
    return exported(out.stdout.splitlines())


def _client(service: str, exports: dict[str, str]) -> Any:
    return boto3.client(service, endpoint_url=exports["AWS_ENDPOINT_URL"], region_name=exports["AWS_REGION"],
                        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
                        aws_session_token=exports.get("AWS_SESSION_TOKEN"), config=Config(retries={"max_attempts": 1}))


def test_the_default_role_exists_and_the_exported_session_acts_as_it(exports: dict[str, str]) -> None:
    iam, sts = _client("iam", exports), _client("sts", exports)
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert exports["SAGEMAKER_EXECUTION_ROLE_ARN"] == role["Arn"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert f":assumed-role/{ROLE}/" in sts.get_caller_identity()["Arn"]


def test_simulating_the_default_role_allows_what_the_sdk_asks(exports: dict[str, str]) -> None:
    iam = _client("iam", exports)
    actions = ["sagemaker:CreateTrainingJob", "ecr:GetAuthorizationToken", "logs:PutLogEvents"]
    # Without ResourceArns, as the SageMaker Python SDK v3 asks.
    resp = iam.simulate_principal_policy(PolicySourceArn=exports["SAGEMAKER_EXECUTION_ROLE_ARN"], ActionNames=actions)
    assert [(r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"]) for r in resp["EvaluationResults"]] == [
        (a, "*", "allowed") for a in actions]


def test_simulation_follows_wildcards_and_denies(exports: dict[str, str]) -> None:
    iam = _client("iam", exports)
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName="ls-sim", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="ls-sim", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
                      {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secret/*"}]}))
    resp = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject", "s3:PutObject"],
                                         ResourceArns=["arn:aws:s3:::data/x", "arn:aws:s3:::secret/k"])
    got = {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in resp["EvaluationResults"]}
    assert got == {("s3:GetObject", "arn:aws:s3:::data/x"): "allowed",
                   ("s3:GetObject", "arn:aws:s3:::secret/k"): "explicitDeny",
                   ("s3:PutObject", "arn:aws:s3:::data/x"): "implicitDeny",
                   ("s3:PutObject", "arn:aws:s3:::secret/k"): "implicitDeny"}


@pytest.mark.sdk
def test_sdk_v3_model_trainer_trains_with_the_default_role_and_with_none(
        exports: dict[str, str], tmp_path: Any) -> None:
    rows = "\n".join(f"{2.0 * i - 1.0},{i},{i % 3}" for i in range(40)).encode()
    _client("s3", exports).put_object(Bucket="headwater-data", Key="sdk-v3/train/part.csv", Body=rows)
    env = v3_environment(exports, tmp_path)
    role = exports["SAGEMAKER_EXECUTION_ROLE_ARN"]
    for given in (role, "-"):  # "-": no role, v3 takes the caller's (the exported session's)
        run = run_v3("train_builtin", env, given, "s3://headwater-data/sdk-v3/train/", "s3://headwater-artifacts/v3")
        assert run.result["status"] == "Completed" and run.result["role"] == role, run.output[-3000:]
