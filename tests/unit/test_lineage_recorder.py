"""What SageMaker records by itself, from the Describe responses of its state changes (in-memory store)."""

from __future__ import annotations

from typing import Any

import pytest

from services.core.exceptions import ValidationException
from services.lineage.recorder import LineageRecorder
from services.lineage.service import LineageService
from tests.unit.test_lineage_service import HEAD, in_memory

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


@pytest.fixture
def lineage() -> LineageService:
    return in_memory()


def _job(status: str, name: str = "churn-1") -> dict[str, Any]:
    return {"TrainingJobName": name, "TrainingJobArn": f"{HEAD}:training-job/{name}", "TrainingJobStatus": status,
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "InputDataConfig": [{"ChannelName": c, "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://data/{name}/{c}/"}}} for c in ("train", "validation")],
            **({"ModelArtifacts": {"S3ModelArtifacts": f"s3://art/{name}/model.tar.gz"}}
               if status == "Completed" else {})}


def _package(version: int, model: str, status: str = "PendingManualApproval") -> dict[str, Any]:
    return {"ModelPackageArn": f"{HEAD}:model-package/churn/{version}", "ModelPackageGroupName": "churn",
            "ModelPackageVersion": version, "ModelApprovalStatus": status, "ModelPackageStatus": "Completed",
            "InferenceSpecification": {"Containers": [{"Image": IMAGE, "ModelDataUrl": model}]}}


async def _deploy(recorder: LineageRecorder, config: str, model_url: str) -> str | None:
    endpoint = {"EndpointName": "churn", "EndpointArn": f"{HEAD}:endpoint/churn", "EndpointStatus": "InService",
                "EndpointConfigName": config}
    return await recorder.endpoint(endpoint, {
        "EndpointConfigName": config, "EndpointConfigArn": f"{HEAD}:endpoint-config/{config}",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": config}]},
        {config: {"ModelName": config, "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": model_url}}})


async def _datasets(lineage: LineageService, start: str) -> list[str]:
    found = await lineage.graph.query_lineage({"StartArns": [start], "Direction": "Ascendants", "Filters": {
        "Types": ["DataSet"], "LineageTypes": ["Artifact"]}})
    arns = [v["Arn"] for v in found["Vertices"]]
    return sorted([(await lineage.entities.describe(lineage.kind("artifact"), a)).source_uri for a in arns])


async def test_train_register_deploy_answers_what_data_the_endpoint_was_trained_on(lineage: LineageService) -> None:
    rec = LineageRecorder(lineage)
    for status in ("InProgress", "InProgress", "Completed", "Completed"):  # redelivered events change nothing
        await rec.training_job(_job(status))
    package = await rec.model_package(_package(1, "s3://art/churn-1/model.tar.gz"))
    await rec.model_package(_package(1, "s3://art/churn-1/model.tar.gz", "Approved"))
    context = await _deploy(rec, "cfg-1", "s3://art/churn-1/model.tar.gz")
    assert context is not None and package is not None
    assert await _datasets(lineage, context) == ["s3://data/churn-1/train/", "s3://data/churn-1/validation/"]
    # One artifact per source and type: the job's model is the package's and the endpoint's.
    models, _ = await lineage.entities.list(lineage.kind("artifact"), {"ArtifactType": "Model"})
    assert len(models) == 1
    descendants = await lineage.graph.query_lineage({"StartArns": [models[0].arn], "Direction": "Descendants"})
    types = {v["Type"] for v in descendants["Vertices"]}
    assert {"ModelPackage", "ModelGroup", "Approval", "ModelDeployment", "Endpoint"} <= types
    approval, _ = await lineage.entities.list(lineage.kind("action"), {"ActionType": "Approval"})
    assert [a.status for a in approval] == ["Completed"]  # the approval followed the package
    jobs = await lineage.graph.query_lineage({"StartArns": [context], "Direction": "Ascendants", "Filters": {
        "LineageTypes": ["TrialComponent"], "Types": ["TrainingJob"]}})
    assert [v["Arn"] for v in jobs["Vertices"]] == [
        f"{HEAD}:experiment-trial-component/churn-1-aws-training-job"]


async def test_an_endpoint_update_moves_its_lineage_to_the_new_model(lineage: LineageService) -> None:
    rec = LineageRecorder(lineage)
    for name in ("churn-1", "churn-2"):
        await rec.training_job(_job("Completed", name))
    context = await _deploy(rec, "cfg-1", "s3://art/churn-1/model.tar.gz")
    assert context is not None
    await _deploy(rec, "cfg-2", "s3://art/churn-2/model.tar.gz")
    assert await _datasets(lineage, context) == ["s3://data/churn-2/train/", "s3://data/churn-2/validation/"]
    deployments, _ = await lineage.entities.list(lineage.kind("action"), {"ActionType": "ModelDeployment"})
    assert len(deployments) == 2  # the old deployment stays, detached from the endpoint


async def test_a_retraining_run_is_an_action_before_its_job_and_version(lineage: LineageService) -> None:
    rec = LineageRecorder(lineage)
    run = {"RunName": "retrain-churn-abc", "EndpointName": "churn", "ModelPackageGroupName": "churn",
           "Status": "Training", "TrainingJobName": "retrain-churn-abc"}
    action = await rec.retraining_run(run)
    await rec.training_job(_job("Completed", "retrain-churn-abc"))
    await rec.retraining_run({**run, "Status": "Completed", "ModelPackageArn": f"{HEAD}:model-package/churn/2"})
    assert action is not None
    described = await lineage.entities.describe(lineage.kind("action"), action)
    assert (described.status, (described.properties or {})["RunStatus"]) == ("Completed", "Completed")
    found = await lineage.graph.query_lineage({"StartArns": [action], "Direction": "Descendants", "Filters": {
        "Types": ["Model", "ModelPackage"]}})
    assert {v["Type"] for v in found["Vertices"]} == {"Model", "ModelPackage"}


async def test_query_pages_its_vertices(lineage: LineageService) -> None:
    rec = LineageRecorder(lineage)
    await rec.training_job(_job("Completed"))
    component = f"{HEAD}:experiment-trial-component/churn-1-aws-training-job"
    pages, token = [], None
    while True:
        page = await lineage.graph.query_lineage({"StartArns": [component], "MaxResults": 2, "IncludeEdges": True,
                                                  **({"NextToken": token} if token else {})})
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            break
    seen = [v["Arn"] for p in pages for v in p["Vertices"]]
    assert [len(p["Vertices"]) for p in pages] == [2, 2, 1]
    assert len(set(seen)) == 5  # the job, its two datasets, its image and its model
    assert len(pages[0]["Edges"]) == 4 and all(p["Edges"] == [] for p in pages[1:])  # edges on the first page
    with pytest.raises(ValidationException):
        await lineage.graph.query_lineage({"StartArns": [component], "MaxDepth": -1})
