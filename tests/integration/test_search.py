"""SageMaker ``Search`` through boto3: training jobs by hyperparameter and metric, model packages by
approval status, paging, sub-expressions, sorting, and bad input answered with AWS's error code."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.demo.datasets import make_churn, to_csv
from tests.support import NodeThread, wait_for, wait_for_job

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ETAS = {"search-eta-1": "0.1", "search-eta-3": "0.3", "search-eta-9": "0.9"}


@pytest.fixture(scope="module")
def jobs(node: NodeThread) -> dict[str, dict[str, Any]]:
    """Three completed XGBoost jobs that differ in eta (so in their final train:logloss)."""
    s3, sm = node.client("s3"), node.client("sagemaker")
    X, y = make_churn(300, seed=11)
    s3.put_object(Bucket="headwater-data", Key="search/train/a.csv", Body=to_csv(X, y))
    for name, eta in ETAS.items():
        sm.create_training_job(
            TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/r",
            AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            HyperParameters={"num_round": "4", "objective": "binary:logistic", "eta": eta},
            InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://headwater-data/search/train/"}}}],
            OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/search"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 300}, Tags=[{"Key": "eta", "Value": eta}])
    done = {name: wait_for_job(sm, name) for name in ETAS}
    assert all(d["TrainingJobStatus"] == "Completed" for d in done.values()), done
    return done


def _logloss(d: dict[str, Any]) -> float:
    return next(m["Value"] for m in d["FinalMetricDataList"] if m["MetricName"] == "train:logloss")


def _names(resp: dict[str, Any]) -> list[str]:
    return [r["TrainingJob"]["TrainingJobName"] for r in resp["Results"]]


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_training_jobs_by_hyperparameter_and_metric(node: NodeThread, jobs: dict[str, dict[str, Any]]) -> None:
    sm = node.client("sagemaker")
    ours = {"Name": "TrainingJobName", "Operator": "Contains", "Value": "search-eta"}
    resp = sm.search(Resource="TrainingJob", SearchExpression={"Filters": [
        ours, {"Name": "HyperParameters.eta", "Operator": "GreaterThan", "Value": "0.2"}]},
        SortBy="HyperParameters.eta", SortOrder="Ascending")
    assert _names(resp) == ["search-eta-3", "search-eta-9"]
    assert resp["TotalHits"] == {"Value": 2, "Relation": "EqualTo"}
    record = resp["Results"][0]["TrainingJob"]
    # the record is the job as DescribeTrainingJob has it, with its Tags
    assert record["TrainingJobArn"] == jobs["search-eta-3"]["TrainingJobArn"]
    assert record["HyperParameters"]["eta"] == "0.3" and record["Tags"] == [{"Key": "eta", "Value": "0.3"}]
    assert record["TrainingJobStatus"] == "Completed" and record["FinalMetricDataList"]

    # a larger eta learns faster in 4 rounds: the metric separates the jobs
    losses = sorted(_logloss(d) for d in jobs.values())
    cut = (losses[0] + losses[1]) / 2
    best = sm.search(Resource="TrainingJob", SearchExpression={"Filters": [
        ours, {"Name": "Metrics.train:logloss", "Operator": "LessThan", "Value": repr(cut)}]})
    assert _names(best) == ["search-eta-9"]
    by_metric = sm.search(Resource="TrainingJob", SearchExpression={"Filters": [ours]},
                          SortBy="Metrics.train:logloss", SortOrder="Ascending")
    assert _names(by_metric) == ["search-eta-9", "search-eta-3", "search-eta-1"]
    assert sm.search(Resource="TrainingJob", SearchExpression={"Filters": [
        {"Name": "Tags.eta", "Operator": "Equals", "Value": "0.1"}]})["Results"][0]["TrainingJob"][
        "TrainingJobName"] == "search-eta-1"
    # what the SDK v2's register() asks to find the job behind an artifact (for its model card)
    artifact = jobs["search-eta-3"]["ModelArtifacts"]["S3ModelArtifacts"]
    assert _names(sm.search(Resource="TrainingJob", SearchExpression={"Filters": [
        {"Name": "ModelArtifacts.S3ModelArtifacts", "Operator": "Equals", "Value": artifact}]})) == ["search-eta-3"]


def test_sub_expressions_and_nested_filters(node: NodeThread, jobs: dict[str, dict[str, Any]]) -> None:
    sm = node.client("sagemaker")
    either = {"Operator": "Or", "Filters": [{"Name": "HyperParameters.eta", "Value": "0.1"},
                                            {"Name": "HyperParameters.eta", "Value": "0.9"}]}
    channel = {"NestedPropertyName": "InputDataConfig", "Filters": [
        {"Name": "InputDataConfig.ChannelName", "Value": "train"},
        {"Name": "InputDataConfig.DataSource.S3DataSource.S3Uri", "Operator": "Contains", "Value": "/search/"}]}
    resp = sm.search(Resource="TrainingJob", SearchExpression={"SubExpressions": [either], "NestedFilters": [channel]},
                     SortBy="TrainingJobName", SortOrder="Descending")
    assert _names(resp) == ["search-eta-9", "search-eta-1"]


def test_model_packages_by_approval_status_with_paging(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="search-group")
    spec = {"Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://headwater-artifacts/x/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}
    arns = [sm.create_model_package(ModelPackageGroupName="search-group", InferenceSpecification=spec)[
        "ModelPackageArn"] for _ in range(5)]
    for arn in arns[1:4]:
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    approved = {"Filters": [{"Name": "ModelPackageGroupName", "Value": "search-group"},
                            {"Name": "ModelApprovalStatus", "Value": "Approved"}]}
    first = sm.search(Resource="ModelPackage", SearchExpression=approved, SortBy="ModelPackageVersion",
                      SortOrder="Ascending", MaxResults=2)
    assert [r["ModelPackage"]["ModelPackageArn"] for r in first["Results"]] == arns[1:3]
    assert first["TotalHits"]["Value"] == 3 and first["NextToken"]
    rest = sm.search(Resource="ModelPackage", SearchExpression=approved, SortBy="ModelPackageVersion",
                     SortOrder="Ascending", MaxResults=2, NextToken=first["NextToken"])
    assert [r["ModelPackage"]["ModelPackageArn"] for r in rest["Results"]] == arns[3:4]
    assert "NextToken" not in rest
    # boto3's own paginator walks the same pages
    pages = sm.get_paginator("search").paginate(Resource="ModelPackage", SearchExpression=approved,
                                                PaginationConfig={"PageSize": 1})
    assert sorted(r["ModelPackage"]["ModelPackageArn"] for p in pages for r in p["Results"]) == sorted(arns[1:4])
    pending = sm.search(Resource="ModelPackage", SearchExpression={"Filters": [
        {"Name": "ModelPackageGroupName", "Value": "search-group"},
        {"Name": "ModelApprovalStatus", "Operator": "In", "Value": "PendingManualApproval,Rejected"}]})
    assert sorted(r["ModelPackage"]["ModelPackageVersion"] for r in pending["Results"]) == [1, 5]
    groups = sm.search(Resource="ModelPackageGroup", SearchExpression={"Filters": [
        {"Name": "ModelPackageGroupName", "Value": "search-group"}]})
    assert [r["ModelPackageGroup"]["ModelPackageGroupStatus"] for r in groups["Results"]] == ["Completed"]


def test_a_kind_headwater_does_not_keep_has_no_results(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    for resource, name in (("ModelCard", "ModelId"), ("FeatureGroup", "FeatureGroupName")):
        resp = sm.search(Resource=resource, SearchExpression={"Filters": [{"Name": name, "Value": "p"}]})
        assert resp["Results"] == [] and resp["TotalHits"]["Value"] == 0
    with pytest.raises(ClientError) as err:  # its filters are still checked against its record
        sm.search(Resource="ModelCard", SearchExpression={"Filters": [{"Name": "NoSuch", "Value": "p"}]})
    assert _error(err)[0] == "ValidationException"


def test_pipelines_and_their_executions(node: NodeThread) -> None:
    """A pipeline (a single Fail step: no job to wait for) and its execution, found by name, tag and status."""
    sm = node.client("sagemaker")
    definition = ('{"Version": "2020-12-01", "Parameters": [], "Steps": [{"Name": "stop", "Type": "Fail", '
                  '"Arguments": {"ErrorMessage": "searched"}}]}')
    arn = sm.create_pipeline(PipelineName="search-pipeline", PipelineDefinition=definition,
                             RoleArn="arn:aws:iam::123456789012:role/r",
                             Tags=[{"Key": "team", "Value": "search"}])["PipelineArn"]
    execution = sm.start_pipeline_execution(PipelineName="search-pipeline")["PipelineExecutionArn"]
    wait_for(lambda: sm.describe_pipeline_execution(PipelineExecutionArn=execution)["PipelineExecutionStatus"]
             == "Failed", timeout=60)

    found = sm.search(Resource="Pipeline", SearchExpression={"Filters": [
        {"Name": "Tags.team", "Operator": "Equals", "Value": "search"}]})["Results"]
    assert [r["Pipeline"]["PipelineArn"] for r in found] == [arn]
    assert found[0]["Pipeline"]["Tags"] == [{"Key": "team", "Value": "search"}]
    runs = sm.search(Resource="PipelineExecution", SearchExpression={"Filters": [
        {"Name": "PipelineArn", "Operator": "Equals", "Value": arn},
        {"Name": "PipelineExecutionStatus", "Operator": "Equals", "Value": "Failed"}]})["Results"]
    assert [r["PipelineExecution"]["PipelineExecutionArn"] for r in runs] == [execution]
    assert runs[0]["PipelineExecution"]["FailureReason"] == "searched"


@pytest.mark.parametrize(("request_", "named"), [
    ({"Resource": "TrainingJobs"}, "TrainingJobs"),
    ({"Resource": "TrainingJob", "SearchExpression": {"Filters": [{"Name": "HyperParams.eta", "Value": "1"}]}},
     "'HyperParams' is not a property of TrainingJob"),
    ({"Resource": "ModelPackage", "SearchExpression": {"Filters": [
        {"Name": "ModelApprovalStatus", "Operator": "GreaterThan", "Value": "Approved"}]}},
     "GreaterThan is not supported for the text property 'ModelApprovalStatus'"),
    ({"Resource": "TrainingJob", "SortBy": "Nope"}, "'Nope' is not a property of TrainingJob"),
    ({"Resource": "TrainingJob", "NextToken": "not-a-token"}, "Invalid NextToken"),
])
def test_bad_input_is_a_validation_exception_naming_it(node: NodeThread, request_: dict[str, Any],
                                                       named: str) -> None:
    with pytest.raises(ClientError) as err:
        node.client("sagemaker").search(**request_)
    code, message = _error(err)
    assert code == "ValidationException" and named in message, message
