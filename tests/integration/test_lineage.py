"""Lineage through boto3 and the SageMaker Python SDK v2: every operation and its errors, and the lineage
Headwater records by itself, walked from an endpoint back to its training data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.demo.datasets import make_churn, to_csv
from services.lineage import entities
from tests.integration.hosting_support import IMAGE, ROLE, variant, wait_status
from tests.support import NodeThread, wait_for, wait_for_job

HEAD = "arn:aws:sagemaker:us-east-1:123456789012"
TRAIN_URI = "s3://headwater-data/lineage/train/"


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def test_artifacts(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    arn = sm.create_artifact(ArtifactName="raw-data", ArtifactType="DataSet", Properties={"owner": "ml"},
                             Source={"SourceUri": "s3://headwater-data/raw/",
                                     "SourceTypes": [{"SourceIdType": "S3ETag", "Value": "abc"}]},
                             Tags=[{"Key": "team", "Value": "ml"}])["ArtifactArn"]
    assert arn.startswith(f"{HEAD}:artifact/")
    d = sm.describe_artifact(ArtifactArn=arn)
    assert (d["ArtifactName"], d["ArtifactType"], d["Properties"]) == ("raw-data", "DataSet", {"owner": "ml"})
    assert d["Source"]["SourceTypes"] == [{"SourceIdType": "S3ETag", "Value": "abc"}]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    other = sm.create_artifact(ArtifactType="Model", Source={"SourceUri": "s3://headwater-artifacts/m.tar.gz"})
    [summary] = sm.list_artifacts(SourceUri="s3://headwater-data/raw/")["ArtifactSummaries"]
    assert summary["ArtifactArn"] == arn and summary["ArtifactType"] == "DataSet"
    assert [a["ArtifactArn"] for a in sm.list_artifacts(ArtifactType="Model")["ArtifactSummaries"]] == [
        other["ArtifactArn"]]
    sm.update_artifact(ArtifactArn=arn, ArtifactName="raw", Properties={"stage": "bronze"},
                       PropertiesToRemove=["owner"])
    d = sm.describe_artifact(ArtifactArn=arn)
    assert (d["ArtifactName"], d["Properties"]) == ("raw", {"stage": "bronze"})
    assert d["LastModifiedTime"] > d["CreationTime"]
    assert sm.delete_artifact(Source={"SourceUri": "s3://headwater-artifacts/m.tar.gz"})["ArtifactArn"] == \
        other["ArtifactArn"]
    assert sm.delete_artifact(ArtifactArn=arn)["ArtifactArn"] == arn
    for call in (lambda: sm.describe_artifact(ArtifactArn=arn), lambda: sm.delete_artifact(ArtifactArn=arn),
                 lambda: sm.update_artifact(ArtifactArn=arn, ArtifactName="x")):
        with pytest.raises(ClientError) as err:
            call()
        assert _code(err) == "ResourceNotFound"


def test_actions_and_contexts(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    arn = sm.create_action(ActionName="Deploy-Churn", ActionType="ModelDeployment", Status="InProgress",
                           Source={"SourceUri": f"{HEAD}:endpoint-config/churn"}, Description="blue/green",
                           MetadataProperties={"GeneratedBy": "me"})["ActionArn"]
    assert arn == f"{HEAD}:action/deploy-churn"
    d = sm.describe_action(ActionName="deploy-churn")  # names are case-insensitive, as the ARN says
    assert (d["ActionName"], d["Status"], d["MetadataProperties"]) == ("Deploy-Churn", "InProgress",
                                                                      {"GeneratedBy": "me"})
    assert sm.describe_action(ActionName=arn)["ActionArn"] == arn
    sm.update_action(ActionName="Deploy-Churn", Status="Completed", Properties={"k": "v"})
    [summary] = sm.list_actions(ActionType="ModelDeployment")["ActionSummaries"]
    assert (summary["ActionName"], summary["Status"]) == ("Deploy-Churn", "Completed")
    ctx = sm.create_context(ContextName="churn_endpoint", ContextType="Endpoint", Description="churn",
                            Source={"SourceUri": f"{HEAD}:endpoint/churn"})["ContextArn"]
    assert sm.describe_context(ContextName=ctx)["ContextType"] == "Endpoint"
    assert [c["ContextArn"] for c in sm.list_contexts(SourceUri=f"{HEAD}:endpoint/churn")["ContextSummaries"]] == \
        [ctx]
    sm.update_context(ContextName="churn_endpoint", Properties={"a": "1"})
    assert sm.describe_context(ContextName="churn_endpoint")["Properties"] == {"a": "1"}
    with pytest.raises(ClientError) as err:
        sm.create_context(ContextName="Churn_Endpoint", ContextType="Endpoint", Source={"SourceUri": "x"})
    assert _code(err) == "ValidationException" and "already exists" in str(err.value)
    with pytest.raises(ClientError) as err:
        sm.create_action(ActionName="bad", ActionType="t", Source={"SourceUri": "x"}, Status="Done")
    assert _code(err) == "ValidationException"  # not an ActionStatus
    assert sm.delete_action(ActionName="Deploy-Churn")["ActionArn"] == arn
    assert sm.delete_context(ContextName="churn_endpoint")["ContextArn"] == ctx
    for call in (lambda: sm.describe_action(ActionName="deploy-churn"),
                 lambda: sm.describe_context(ContextName="churn_endpoint"),
                 lambda: sm.delete_context(ContextName="churn_endpoint"),
                 lambda: sm.update_action(ActionName="deploy-churn", Status="Failed")):
        with pytest.raises(ClientError) as err:
            call()
        assert _code(err) == "ResourceNotFound"


def test_limits_on_what_users_create(node: NodeThread, monkeypatch: pytest.MonkeyPatch) -> None:
    sm = node.client("sagemaker")
    monkeypatch.setitem(entities.LIMITS, "context", len(sm.list_contexts(MaxResults=100)["ContextSummaries"]) + 1)
    sm.create_context(ContextName="limit-1", ContextType="t", Source={"SourceUri": "u"})
    with pytest.raises(ClientError) as err:
        sm.create_context(ContextName="limit-2", ContextType="t", Source={"SourceUri": "u"})
    assert _code(err) == "ResourceLimitExceeded"
    sm.delete_context(ContextName="limit-1")
    sm.create_context(ContextName="limit-2", ContextType="t", Source={"SourceUri": "u"})
    sm.delete_context(ContextName="limit-2")


def test_associations_and_query(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    data = sm.create_artifact(ArtifactType="DataSet", Source={"SourceUri": "s3://headwater-data/q/"})["ArtifactArn"]
    model = sm.create_artifact(ArtifactType="Model", Source={"SourceUri": "s3://q/model.tar.gz"})["ArtifactArn"]
    job = f"{HEAD}:experiment-trial-component/q-job"
    deploy = sm.create_action(ActionName="q-deploy", ActionType="ModelDeployment",
                              Source={"SourceUri": "q"})["ActionArn"]
    endpoint = sm.create_context(ContextName="q-endpoint", ContextType="Endpoint",
                                 Source={"SourceUri": f"{HEAD}:endpoint/q"})["ContextArn"]
    for source, destination, kind in ((data, job, "ContributedTo"), (job, model, "Produced"),
                                      (model, deploy, "ContributedTo"), (deploy, endpoint, "AssociatedWith")):
        assert sm.add_association(SourceArn=source, DestinationArn=destination, AssociationType=kind)[
            "DestinationArn"] == destination
    [a] = sm.list_associations(SourceArn=model)["AssociationSummaries"]
    assert (a["DestinationArn"], a["SourceType"], a["DestinationType"], a["DestinationName"]) == (
        deploy, "Model", "ModelDeployment", "q-deploy")
    assert [x["SourceArn"] for x in sm.list_associations(DestinationArn=endpoint)["AssociationSummaries"]] == [deploy]
    assert len(sm.list_associations(AssociationType="Produced", SourceArn=job)["AssociationSummaries"]) == 1

    found = sm.query_lineage(StartArns=[endpoint], Direction="Ascendants", IncludeEdges=False,
                             Filters={"Types": ["DataSet"], "LineageTypes": ["Artifact"]})
    assert found["Vertices"] == [{"Arn": data, "Type": "DataSet", "LineageType": "Artifact"}] and not found["Edges"]
    whole = sm.query_lineage(StartArns=[model], Direction="Both", IncludeEdges=True)
    assert {v["Arn"] for v in whole["Vertices"]} == {data, job, model, deploy, endpoint}
    assert {(e["SourceArn"], e["DestinationArn"], e["AssociationType"]) for e in whole["Edges"]} == {
        (data, job, "ContributedTo"), (job, model, "Produced"), (model, deploy, "ContributedTo"),
        (deploy, endpoint, "AssociatedWith")}
    assert [v["Arn"] for v in sm.query_lineage(StartArns=[data], Direction="Descendants", MaxDepth=1)[
        "Vertices"]] == [data, job]

    errors = [
        (lambda: sm.add_association(SourceArn=data, DestinationArn=job), "ValidationException"),  # a repeat
        (lambda: sm.add_association(SourceArn=data, DestinationArn=f"{HEAD}:artifact/none"), "ResourceNotFound"),
        (lambda: sm.add_association(SourceArn=job, DestinationArn=f"{HEAD}:experiment/e"), "ValidationException"),
        (lambda: sm.delete_association(SourceArn=model, DestinationArn=data), "ResourceNotFound"),
        (lambda: sm.query_lineage(StartArns=[f"{HEAD}:context/none"]), "ResourceNotFound"),
        (lambda: sm.query_lineage(StartArns=[data], Direction="Sideways"), "ValidationException"),
        (lambda: sm.query_lineage(StartArns=[data], MaxDepth=11), "ValidationException"),
        (lambda: sm.query_lineage(StartArns=[data, model]), "ValidationException"),  # one start at most
    ]
    for call, code in errors:
        with pytest.raises(ClientError) as err:
            call()
        assert _code(err) == code, err.value
    sm.delete_association(SourceArn=deploy, DestinationArn=endpoint)
    assert sm.query_lineage(StartArns=[endpoint], Direction="Ascendants")["Vertices"] == [
        {"Arn": endpoint, "Type": "Endpoint", "LineageType": "Context"}]
    sm.delete_action(ActionName="q-deploy")  # its associations go with it
    assert sm.list_associations(SourceArn=model)["AssociationSummaries"] == []


# --- what SageMaker records: train -> register -> deploy -------------------------------------------------


@pytest.fixture(scope="module")
def story(node: NodeThread) -> dict[str, Any]:
    """A job trained on TRAIN_URI, its model registered and approved, and served by an endpoint."""
    s3, sm = node.client("s3"), node.client("sagemaker")
    X, y = make_churn(300, seed=11)
    s3.put_object(Bucket="headwater-data", Key="lineage/train/a.csv", Body=to_csv(X, y))
    sm.create_training_job(
        TrainingJobName="lineage-train", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"num_round": "3", "objective": "binary:logistic"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": TRAIN_URI}}}],
        OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/lineage"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300})
    job = wait_for_job(sm, "lineage-train")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    sm.create_model_package_group(ModelPackageGroupName="lineage-models")
    package = sm.create_model_package(
        ModelPackageGroupName="lineage-models", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": artifact}],
                                "SupportedContentTypes": ["text/csv"],
                                "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    sm.create_model(ModelName="lineage-model", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": artifact})
    sm.create_endpoint_config(EndpointConfigName="lineage-cfg", ProductionVariants=[variant("v", "lineage-model")])
    sm.create_endpoint(EndpointName="lineage-endpoint", EndpointConfigName="lineage-cfg")
    endpoint = wait_status(node, "lineage-endpoint")
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    return {"job": job, "artifact": artifact, "package": package, "endpoint": endpoint}


def _endpoint_context(node: NodeThread, endpoint_arn: str) -> str:
    """The endpoint's context, once the recorder has written its deployment."""
    sm = node.client("sagemaker")

    def recorded() -> str | None:
        contexts = sm.list_contexts(SourceUri=endpoint_arn)["ContextSummaries"]
        if not contexts or not sm.list_associations(DestinationArn=contexts[0]["ContextArn"])["AssociationSummaries"]:
            return None
        return contexts[0]["ContextArn"]

    return wait_for(recorded, 60, what="the endpoint's lineage to be recorded")


def test_sagemaker_records_the_story(node: NodeThread, story: dict[str, Any]) -> None:
    sm = node.client("sagemaker")
    context = _endpoint_context(node, story["endpoint"]["EndpointArn"])
    assert sm.describe_context(ContextName=context)["ContextType"] == "Endpoint"
    datasets = sm.query_lineage(StartArns=[context], Direction="Ascendants", IncludeEdges=False,
                                Filters={"Types": ["DataSet"], "LineageTypes": ["Artifact"]})["Vertices"]
    assert [sm.describe_artifact(ArtifactArn=v["Arn"])["Source"]["SourceUri"] for v in datasets] == [TRAIN_URI]
    jobs = sm.query_lineage(StartArns=[context], Direction="Ascendants",
                            Filters={"LineageTypes": ["TrialComponent"]})["Vertices"]
    assert jobs == [{"Arn": f"{HEAD}:experiment-trial-component/lineage-train-aws-training-job",
                     "Type": "TrainingJob", "LineageType": "TrialComponent"}]
    # The package: its artifact, its group's context, its approval, all from the same model artifact.
    [package] = sm.list_artifacts(SourceUri=story["package"])["ArtifactSummaries"]
    assert package["ArtifactType"] == "ModelPackage"
    below = sm.query_lineage(StartArns=[package["ArtifactArn"]], Direction="Descendants")["Vertices"]
    assert {v["Type"] for v in below} == {"ModelPackage", "ModelGroup", "Approval"}
    above = sm.query_lineage(StartArns=[package["ArtifactArn"]], Direction="Ascendants",
                             Filters={"Types": ["DataSet"]})["Vertices"]
    assert [v["Arn"] for v in above] == [v["Arn"] for v in datasets]
    [model] = sm.list_artifacts(SourceUri=story["artifact"])["ArtifactSummaries"]
    assert model["ArtifactType"] == "Model"


@pytest.mark.sdk
def test_the_sdk_finds_the_data_an_endpoint_was_trained_on(node: NodeThread, story: dict[str, Any],
                                                           tmp_path: Path) -> None:
    from sagemaker.lineage.artifact import Artifact, ModelArtifact
    from sagemaker.lineage.context import Context, EndpointContext
    from sagemaker.lineage.query import (
        LineageEntityEnum,
        LineageFilter,
        LineageQuery,
        LineageQueryDirectionEnum,
        LineageSourceEnum,
    )

    from tests.sdk_env import sdk_environment, sdk_session

    _endpoint_context(node, story["endpoint"]["EndpointArn"])
    with sdk_environment(node, tmp_path):
        session = sdk_session("headwater-artifacts")
        [summary] = list(Context.list(source_uri=story["endpoint"]["EndpointArn"], sagemaker_session=session))
        endpoint = EndpointContext.load(context_name=summary.context_name, sagemaker_session=session)
        assert [d.source.source_uri for d in endpoint.dataset_artifacts()] == [TRAIN_URI]

        datasets = LineageFilter(entities=[LineageEntityEnum.ARTIFACT], sources=[LineageSourceEnum.DATASET])
        result = LineageQuery(session).query(start_arns=[endpoint.context_arn], include_edges=False,
                                             direction=LineageQueryDirectionEnum.ASCENDANTS, query_filter=datasets)
        assert [v.to_lineage_object().source.source_uri for v in result.vertices] == [TRAIN_URI]
        # With its edges (the SDK's default), the answer is the path: deployment, model, job, data.
        paths = LineageQuery(session).query(start_arns=[endpoint.context_arn], query_filter=datasets,
                                            direction=LineageQueryDirectionEnum.ASCENDANTS)
        assert [v.lineage_source for v in paths.vertices] == ["Endpoint", "ModelDeployment", "Model", "TrainingJob",
                                                              "DataSet"]
        assert len(paths.edges) == 4

        [model_summary] = list(Artifact.list(source_uri=story["artifact"], sagemaker_session=session))
        model = ModelArtifact.load(artifact_arn=model_summary.artifact_arn, sagemaker_session=session)
        assert [d.source.source_uri for d in model.dataset_artifacts()] == [TRAIN_URI]
        assert [c.context_arn for c in model.endpoint_contexts()] == [endpoint.context_arn]

        # The job's trial component is an Experiments entity (SageMaker records one for every training job,
        # ExperimentConfig or not): the SDK describes it to name the job behind the endpoint.
        assert endpoint.training_job_arns() == [story["job"]["TrainingJobArn"]]
