"""The model registry through boto3, the state-change events, and the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.demo.datasets import make_churn, to_csv
from tests.integration.hosting_support import deploy, variant
from tests.support import NodeThread, wait_for, wait_for_job

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
STAGE_SCRIPT = Path(__file__).resolve().parents[1] / "e2e" / "scripts" / "stage_echo.py"
ROLE = "arn:aws:iam::123456789012:role/r"


@pytest.fixture(scope="module")
def trained(node: NodeThread) -> dict[str, Any]:
    """A completed training job whose artifact the packages register."""
    s3, sm = node.client("s3"), node.client("sagemaker")
    X, y = make_churn(400, seed=5)
    s3.put_object(Bucket="headwater-data", Key="reg/train/a.csv", Body=to_csv(X, y))
    sm.create_training_job(
        TrainingJobName="reg-Train-1", RoleArn="arn:aws:iam::123456789012:role/r",
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"num_round": "5", "objective": "binary:logistic"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://headwater-data/reg/train/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/reg"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300})
    return wait_for_job(sm, "reg-Train-1")


@pytest.fixture(scope="module")
def events(node: NodeThread) -> Any:
    """A queue receiving every Model Package State Change."""
    sqs, eb = node.client("sqs"), node.client("events")
    url = sqs.create_queue(QueueName="reg-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    eb.put_rule(Name="reg-events", EventBusName="headwater", EventPattern=json.dumps(
        {"source": ["headwater.sagemaker"], "detail-type": ["SageMaker Model Package State Change"]}))
    eb.put_targets(Rule="reg-events", EventBusName="headwater", Targets=[{"Id": "q", "Arn": arn}])

    def drain() -> list[dict[str, Any]]:
        out = []
        while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"):
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    return drain


def _package(group: str, artifact: str, **extra: Any) -> dict[str, Any]:
    return {"ModelPackageGroupName": group, "ModelPackageDescription": "churn model",
            "InferenceSpecification": {"Containers": [{"Image": IMAGE, "ModelDataUrl": artifact}],
                                       "SupportedContentTypes": ["text/csv"],
                                       "SupportedResponseMIMETypes": ["text/csv"]}, **extra}


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def test_groups(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    arn = sm.create_model_package_group(ModelPackageGroupName="Churn-Models",
                                        ModelPackageGroupDescription="churn")["ModelPackageGroupArn"]
    assert arn.endswith(":model-package-group/churn-models")
    with pytest.raises(ClientError) as err:
        sm.create_model_package_group(ModelPackageGroupName="churn-models")  # names are case-insensitive
    assert _code(err) == "ValidationException" and "already exists" in str(err.value)
    d = sm.describe_model_package_group(ModelPackageGroupName="Churn-Models")
    assert (d["ModelPackageGroupStatus"], d["ModelPackageGroupDescription"]) == ("Completed", "churn")
    assert sm.describe_model_package_group(ModelPackageGroupName=arn)["ModelPackageGroupName"] == "Churn-Models"
    for name in ("other-b", "other-a"):
        sm.create_model_package_group(ModelPackageGroupName=name)
    listed = sm.list_model_package_groups(NameContains="other", SortBy="Name")["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in listed] == ["other-a", "other-b"]
    first = sm.list_model_package_groups(MaxResults=2)
    rest = sm.list_model_package_groups(MaxResults=2, NextToken=first["NextToken"])
    names = [g["ModelPackageGroupName"] for g in first["ModelPackageGroupSummaryList"] + rest["ModelPackageGroupSummaryList"]]
    assert sorted(names) == ["Churn-Models", "other-a", "other-b"]
    with pytest.raises(ClientError) as err:
        sm.describe_model_package_group(ModelPackageGroupName="nope")
    assert _code(err) == "ValidationException" and "does not exist" in str(err.value)


def test_versions_approval_lineage_and_events(node: NodeThread, trained: dict[str, Any], events: Any) -> None:
    sm = node.client("sagemaker")
    events()  # start from an empty queue
    artifact = trained["ModelArtifacts"]["S3ModelArtifacts"]
    first = sm.create_model_package(**_package("Churn-Models", artifact))["ModelPackageArn"]
    assert first.endswith(":model-package/churn-models/1")
    with ThreadPoolExecutor(4) as pool:  # concurrent registrations never share a version
        arns = list(pool.map(lambda _: sm.create_model_package(**_package("Churn-Models", artifact))[
            "ModelPackageArn"], range(4)))
    assert sorted(int(a.rsplit("/", 1)[1]) for a in arns) == [2, 3, 4, 5]

    d = sm.describe_model_package(ModelPackageName=first)
    assert (d["ModelPackageGroupName"], d["ModelPackageVersion"], d["ModelPackageStatus"]) == ("Churn-Models", 1, "Completed")
    assert d["ModelApprovalStatus"] == "PendingManualApproval"
    assert d["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == artifact
    # lineage: the training job that produced the artifact
    assert d["MetadataProperties"]["GeneratedBy"] == trained["TrainingJobArn"]

    sm.update_model_package(ModelPackageArn=first, ModelApprovalStatus="Approved", ApprovalDescription="looks good",
                            CustomerMetadataProperties={"owner": "risk"})
    d = sm.describe_model_package(ModelPackageName=first)
    assert (d["ModelApprovalStatus"], d["ApprovalDescription"]) == ("Approved", "looks good")
    assert d["CustomerMetadataProperties"] == {"owner": "risk"}

    approved = sm.list_model_packages(ModelPackageGroupName="Churn-Models", ModelApprovalStatus="Approved")
    assert [p["ModelPackageArn"] for p in approved["ModelPackageSummaryList"]] == [first]
    newest = sm.list_model_packages(ModelPackageGroupName="Churn-Models", SortBy="CreationTime",
                                    SortOrder="Descending", MaxResults=1)["ModelPackageSummaryList"]
    assert newest[0]["ModelPackageVersion"] == max(int(a.rsplit("/", 1)[1]) for a in arns)

    received: list[dict[str, Any]] = []

    def approved_seen() -> bool:
        received.extend(e for e in events() if e["detail"]["ModelPackageArn"] == first)
        return any(e["detail"]["ModelApprovalStatus"] == "Approved" for e in received)

    wait_for(approved_seen, timeout=30, what="the package's approval event")
    statuses = [e["detail"]["ModelApprovalStatus"] for e in received]
    assert statuses[0] == "PendingManualApproval" and statuses[-1] == "Approved"
    assert all(e["detail-type"] == "SageMaker Model Package State Change" for e in received)
    assert received[-1]["detail"]["ModelPackageVersion"] == 1 and received[-1]["resources"] == [first]


def test_unversioned_tags_and_deletion(node: NodeThread, trained: dict[str, Any]) -> None:
    sm = node.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="short-lived")
    arn = sm.create_model_package(**_package("short-lived", trained["ModelArtifacts"]["S3ModelArtifacts"]))[
        "ModelPackageArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "test"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "test"}]
    with pytest.raises(ClientError) as err:
        sm.delete_model_package_group(ModelPackageGroupName="short-lived")
    assert _code(err) == "ConflictException"
    sm.delete_model_package(ModelPackageName=arn)
    with pytest.raises(ClientError) as err:
        sm.describe_model_package(ModelPackageName=arn)
    assert _code(err) == "ValidationException"
    sm.delete_model_package_group(ModelPackageGroupName="short-lived")
    assert "short-lived" not in [g["ModelPackageGroupName"] for g in
                                 sm.list_model_package_groups(MaxResults=100)["ModelPackageGroupSummaryList"]]
    unversioned = sm.create_model_package(ModelPackageName="standalone", InferenceSpecification={
        "Containers": [{"Image": IMAGE}], "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    assert sm.describe_model_package(ModelPackageName="standalone")["ModelPackageArn"] == unversioned
    listed = sm.list_model_packages()["ModelPackageSummaryList"]  # the default lists unversioned packages
    assert [p["ModelPackageName"] for p in listed] == ["standalone"]
    with pytest.raises(ClientError) as err:  # as a group's name, an unversioned package's is taken once
        sm.create_model_package(ModelPackageName="standalone", InferenceSpecification={
            "Containers": [{"Image": IMAGE}], "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"]})
    assert _code(err) == "ValidationException" and "already exists" in str(err.value)


def test_cli_shows_versions_metrics_and_lineage(node: NodeThread, trained: dict[str, Any]) -> None:
    sm, s3 = node.client("sagemaker"), node.client("s3")
    sm.create_model_package_group(ModelPackageGroupName="cli-group")
    stats = {"binary_classification_metrics": {"accuracy": {"value": 0.875, "standard_deviation": 0.01},
                                               "auc": {"value": 0.9123, "standard_deviation": 0.01}}}
    s3.put_object(Bucket="headwater-artifacts", Key="reg/metrics.json", Body=json.dumps(stats).encode())
    arn = sm.create_model_package(**_package(
        "cli-group", trained["ModelArtifacts"]["S3ModelArtifacts"],
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                      "S3Uri": "s3://headwater-artifacts/reg/metrics.json"}}}))[
        "ModelPackageArn"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "infra.cli", "--state-dir", str(node.settings.state_dir), *args],
                              capture_output=True, text=True, timeout=60)

    out = cli("models", "cli-group")
    assert out.returncode == 0, out.stderr
    [row] = out.stdout.splitlines()[1:]
    assert row.split()[:2] == ["1", "PendingManualApproval"]
    assert "accuracy=0.875" in row and "auc=0.9123" in row
    assert "reg-Train-1" in row and "s3://headwater-data/reg/train/" in row
    approved = cli("approve", arn, "--description", "by hand")
    assert approved.returncode == 0 and approved.stdout.strip().endswith("Approved"), approved.stderr
    assert sm.describe_model_package(ModelPackageName=arn)["ApprovalDescription"] == "by hand"


# --- what the SDK v2's register() sends, and the registry's other members -----------------------------------------

CARD = {"model_overview": {"model_creator": "risk team", "model_artifact": ["s3://headwater-artifacts/reg/m.tar.gz"]},
        "training_details": {"training_job_details": {"training_arn": "arn:aws:sagemaker:us-east-1:123456789012:"
                                                                      "training-job/reg-train-1"}}}


def test_registration_members_round_trip_to_describe(node: NodeThread, trained: dict[str, Any]) -> None:
    sm = node.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="card-models")
    artifact = trained["ModelArtifacts"]["S3ModelArtifacts"]
    sent = {
        "ModelCard": {"ModelCardContent": json.dumps(CARD), "ModelCardStatus": "Draft"},
        "ModelLifeCycle": {"Stage": "Development", "StageStatus": "InProgress", "StageDescription": "first cut"},
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                         "S3Uri": "s3://headwater-artifacts/reg/metrics.json"}}},
        "DriftCheckBaselines": {"ModelQuality": {"Constraints": {
            "ContentType": "application/json", "S3Uri": "s3://headwater-artifacts/reg/constraints.json"}}},
        "CustomerMetadataProperties": {"team": "risk"},
        "SkipModelValidation": "All", "Task": "CLASSIFICATION", "Domain": "MACHINE_LEARNING",
        "SamplePayloadUrl": "s3://headwater-artifacts/reg/sample.tar.gz",
        "SecurityConfig": {"KmsKeyId": "alias/registry"}, "ModelPackageRegistrationType": "Registered",
        "AdditionalInferenceSpecifications": [{"Name": "compiled", "Description": "for small instances",
                                               "Containers": [{"Image": IMAGE, "ModelDataUrl": artifact}],
                                               "SupportedContentTypes": ["text/csv"]}],
    }
    arn = sm.create_model_package(**_package("card-models", artifact, **sent))["ModelPackageArn"]
    d = sm.describe_model_package(ModelPackageName=arn)
    assert {k: d.get(k) for k in sent} == sent
    [summary] = sm.list_model_packages(ModelPackageGroupName="card-models")["ModelPackageSummaryList"]
    assert summary["ModelLifeCycle"] == sent["ModelLifeCycle"]
    assert summary["ModelPackageRegistrationType"] == "Registered"


@pytest.mark.parametrize(("content", "words"), [
    ("{not json", "ModelCardContent"),
    ('["a list"]', "JSON object"),
    (json.dumps({"model_package_details": {"model_package_name": "x"}}), "model_package_details"),
    (json.dumps({"model_overview": {"model_name": "x"}}), "model_overview"),
])
def test_a_model_card_outside_the_package_schema_is_refused(node: NodeThread, content: str, words: str) -> None:
    sm = node.client("sagemaker")
    with pytest.raises(ClientError) as err:
        sm.create_model_package(ModelPackageName="bad-card", ModelCard={"ModelCardContent": content},
                                InferenceSpecification={"Containers": [{"Image": IMAGE}],
                                                        "SupportedContentTypes": ["text/csv"],
                                                        "SupportedResponseMIMETypes": ["text/csv"]})
    assert _code(err) == "ValidationException" and words in str(err.value)
    with pytest.raises(ClientError):
        sm.describe_model_package(ModelPackageName="bad-card")  # nothing was stored


def test_a_source_uri_package_gets_its_inference_specification_by_update(node: NodeThread,
                                                                         trained: dict[str, Any]) -> None:
    sm = node.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="sourced")
    arn = sm.create_model_package(ModelPackageGroupName="sourced", SourceUri=trained["TrainingJobArn"],
                                  ModelApprovalStatus="PendingManualApproval")["ModelPackageArn"]
    d = sm.describe_model_package(ModelPackageName=arn)
    assert d["SourceUri"] == trained["TrainingJobArn"] and "InferenceSpecification" not in d
    spec = _package("sourced", trained["ModelArtifacts"]["S3ModelArtifacts"])["InferenceSpecification"]
    sm.update_model_package(ModelPackageArn=arn, InferenceSpecification=spec)
    sm.update_model_package(ModelPackageArn=arn, SourceUri="s3://headwater-artifacts/reg/source/")
    d = sm.describe_model_package(ModelPackageName=arn)
    assert d["InferenceSpecification"] == spec and d["SourceUri"] == "s3://headwater-artifacts/reg/source/"

    extra = {"Name": "cpu", "Containers": [{"Image": IMAGE, "ModelDataUrl": spec["Containers"][0]["ModelDataUrl"]}]}
    sm.update_model_package(ModelPackageArn=arn, AdditionalInferenceSpecificationsToAdd=[extra])
    sm.update_model_package(ModelPackageArn=arn, AdditionalInferenceSpecificationsToAdd=[{**extra, "Name": "gpu"}])
    d = sm.describe_model_package(ModelPackageName=arn)
    assert [s["Name"] for s in d["AdditionalInferenceSpecifications"]] == ["cpu", "gpu"]
    with pytest.raises(ClientError) as err:  # names are unique within a package
        sm.update_model_package(ModelPackageArn=arn, AdditionalInferenceSpecificationsToAdd=[extra])
    assert _code(err) == "ValidationException" and "cpu" in str(err.value)


def test_model_life_cycle_and_model_card_updates_take(node: NodeThread, trained: dict[str, Any]) -> None:
    sm = node.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="staged")
    arn = sm.create_model_package(**_package("staged", trained["ModelArtifacts"]["S3ModelArtifacts"],
                                             ModelLifeCycle={"Stage": "Development", "StageStatus": "Approved"}))[
        "ModelPackageArn"]
    life = {"Stage": "Production", "StageStatus": "InProgress", "StageDescription": "canary on 10%"}
    sm.update_model_package(ModelPackageArn=arn, ModelLifeCycle=life)
    assert sm.describe_model_package(ModelPackageName=arn)["ModelLifeCycle"] == life
    [summary] = sm.list_model_packages(ModelPackageGroupName="staged")["ModelPackageSummaryList"]
    assert summary["ModelLifeCycle"] == life

    card = {"ModelCardContent": json.dumps(CARD), "ModelCardStatus": "Archived"}
    sm.update_model_package(ModelPackageArn=arn, ModelCard=card)
    assert sm.describe_model_package(ModelPackageName=arn)["ModelCard"] == card
    with pytest.raises(ClientError) as err:  # an archived card's content is frozen
        sm.update_model_package(ModelPackageArn=arn, ModelCard={"ModelCardContent": "{}"})
    assert _code(err) == "ValidationException" and "Archived" in str(err.value)


def test_listing_the_packages_of_a_group_that_does_not_exist_is_empty(node: NodeThread) -> None:
    """SageMaker answers an empty list (the SDK's ``get_most_recently_created_approved_model_package``
    relies on it), where ``DescribeModelPackageGroup`` answers ``ValidationException``."""
    sm = node.client("sagemaker")
    listed = sm.list_model_packages(ModelPackageGroupName="never-created", ModelApprovalStatus="Approved")
    assert listed["ModelPackageSummaryList"] == [] and "NextToken" not in listed


# --- models made from a package ---------------------------------------------------------------------------------


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def staged_package(node: NodeThread) -> str:
    """A package whose two inference specifications run :data:`STAGE_SCRIPT` with different ``STAGE``s."""
    s3, sm, bucket = node.client("s3"), node.client("sagemaker"), node.settings.artifacts_bucket
    s3.put_object(Bucket=bucket, Key="reg-stage/model.tar.gz", Body=_tar_gz({"README": b"no weights"}))
    s3.put_object(Bucket=bucket, Key="reg-stage/sourcedir.tar.gz",
                  Body=_tar_gz({STAGE_SCRIPT.name: STAGE_SCRIPT.read_bytes()}))

    def container(stage: str) -> dict[str, Any]:
        return {"Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{bucket}/reg-stage/model.tar.gz",
                "Environment": {"SAGEMAKER_PROGRAM": STAGE_SCRIPT.name, "STAGE": stage,
                                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/reg-stage/sourcedir.tar.gz"}}

    sm.create_model_package_group(ModelPackageGroupName="staged-serving")
    return sm.create_model_package(
        ModelPackageGroupName="staged-serving", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [container("primary")], "SupportedContentTypes": ["application/json"],
                                "SupportedResponseMIMETypes": ["application/json"]},
        AdditionalInferenceSpecifications=[{"Name": "alternative", "Containers": [container("alternative")]}])[
        "ModelPackageArn"]


def test_a_model_made_from_package_runs_the_packages_containers(node: NodeThread, staged_package: str) -> None:
    """``Containers[].ModelPackageName`` (with ``InferenceSpecificationName``) and no ``Image``: the endpoint runs
    the package's image, model data and environment, the model's ``Environment`` over the package's; the
    model's Describe keeps what was sent."""
    sm = node.client("sagemaker")
    containers = [{"ModelPackageName": staged_package, "Environment": {"STAGE": "overridden"}},
                  {"ModelPackageName": staged_package, "InferenceSpecificationName": "alternative"}]
    sm.create_model(ModelName="from-package", ExecutionRoleArn=ROLE, Containers=containers)
    described = sm.describe_model(ModelName="from-package")
    assert described["Containers"] == containers and "PrimaryContainer" not in described

    desc = deploy(node, "ep-from-package", [variant("AllTraffic", "from-package")])
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    assert [i["SpecifiedImage"] for i in desc["ProductionVariants"][0]["DeployedImages"]] == [SKLEARN_IMAGE] * 2
    answer = node.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="ep-from-package", Body=json.dumps(["request"]), ContentType="application/json")
    assert json.loads(answer["Body"].read()) == ["request", "overridden", "alternative"]


@pytest.mark.parametrize(("container", "words"), [
    ({"ModelPackageName": "arn:aws:sagemaker:us-east-1:123456789012:model-package/staged-serving/99"},
     "does not exist"),
    ({"ModelPackageName": "PACKAGE", "InferenceSpecificationName": "gpu"}, "gpu"),
    ({"ModelPackageName": "PACKAGE", "Image": IMAGE}, "Image"),
])
def test_a_model_from_a_package_it_cannot_resolve_is_refused(node: NodeThread, staged_package: str,
                                                             container: dict[str, Any], words: str) -> None:
    sm = node.client("sagemaker")
    if container["ModelPackageName"] == "PACKAGE":
        container = {**container, "ModelPackageName": staged_package}
    with pytest.raises(ClientError) as err:
        sm.create_model(ModelName="unresolved", ExecutionRoleArn=ROLE, PrimaryContainer=container)
    assert _code(err) == "ValidationException" and words in str(err.value)


def test_a_model_from_a_package_without_inference_specification_is_refused(node: NodeThread,
                                                                          trained: dict[str, Any]) -> None:
    sm = node.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="unspecified")
    arn = sm.create_model_package(ModelPackageGroupName="unspecified", SourceUri=trained["TrainingJobArn"])[
        "ModelPackageArn"]
    with pytest.raises(ClientError) as err:
        sm.create_model(ModelName="unspecified", ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": arn})
    assert _code(err) == "ValidationException" and "InferenceSpecification" in str(err.value)
