"""SageMaker Experiments through boto3: experiments, trials, trial components, associations, metrics sent to
the sagemaker-metrics endpoint, a training job's own trial component, and Search over them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.demo.datasets import make_churn, to_csv
from tests.support import NodeThread, wait_for, wait_for_job

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return err.value.response["Error"]["Code"]


def test_experiment_trial_and_component_lifecycle(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    arn = sm.create_experiment(ExperimentName="Churn-Exp", Description="churn",
                               Tags=[{"Key": "team", "Value": "risk"}])["ExperimentArn"]
    assert arn.endswith(":experiment/churn-exp")
    with pytest.raises(ClientError) as err:  # names are unique case-insensitively; the SDK looks for this
        sm.create_experiment(ExperimentName="churn-exp")
    assert _code(err) == "ValidationException" and "already exists" in str(err.value)
    d = sm.describe_experiment(ExperimentName="churn-exp")
    assert (d["ExperimentName"], d["DisplayName"], d["Description"]) == ("Churn-Exp", "Churn-Exp", "churn")
    sm.update_experiment(ExperimentName="Churn-Exp", DisplayName="Churn")
    assert sm.describe_experiment(ExperimentName="Churn-Exp")["DisplayName"] == "Churn"
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "risk"}]

    with pytest.raises(ClientError) as err:
        sm.create_trial(TrialName="t", ExperimentName="no-such-experiment")
    assert _code(err) == "ResourceNotFound"
    trial = sm.create_trial(TrialName="trial-1", ExperimentName="Churn-Exp")["TrialArn"]
    component = sm.create_trial_component(
        TrialComponentName="prep-1", Status={"PrimaryStatus": "InProgress"},
        Parameters={"lr": {"NumberValue": 0.1}, "kind": {"StringValue": "gbm"}},
        InputArtifacts={"data": {"Value": "s3://b/data.csv", "MediaType": "text/csv"}})["TrialComponentArn"]
    associated = sm.associate_trial_component(TrialComponentName="prep-1", TrialName="trial-1")
    assert (associated["TrialComponentArn"], associated["TrialArn"]) == (component, trial)
    sm.update_trial_component(TrialComponentName="prep-1", Parameters={"depth": {"NumberValue": 3}},
                              ParametersToRemove=["kind"], Status={"PrimaryStatus": "Completed"})
    d = sm.describe_trial_component(TrialComponentName=component)  # by ARN as well
    assert d["Parameters"] == {"lr": {"NumberValue": 0.1}, "depth": {"NumberValue": 3.0}}
    assert d["Status"] == {"PrimaryStatus": "Completed"} and d["InputArtifacts"]["data"]["Value"] == "s3://b/data.csv"

    listed = sm.list_trial_components(TrialName="trial-1")["TrialComponentSummaries"]
    assert [c["TrialComponentName"] for c in listed] == ["prep-1"]
    assert [t["TrialName"] for t in sm.list_trials(TrialComponentName="prep-1")["TrialSummaries"]] == ["trial-1"]
    assert [t["TrialName"] for t in sm.list_trials(ExperimentName="churn-exp")["TrialSummaries"]] == ["trial-1"]

    # deletion follows SageMaker's order: component out of its trials, trials out of the experiment
    for call, kwargs in ((sm.delete_trial_component, {"TrialComponentName": "prep-1"}),
                         (sm.delete_trial, {"TrialName": "trial-1"}),
                         (sm.delete_experiment, {"ExperimentName": "Churn-Exp"})):
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        assert _code(err) == "ValidationException"
    sm.disassociate_trial_component(TrialComponentName="prep-1", TrialName="trial-1")
    sm.delete_trial_component(TrialComponentName="prep-1")
    sm.delete_trial(TrialName="trial-1")
    sm.delete_experiment(ExperimentName="Churn-Exp")
    with pytest.raises(ClientError) as err:
        sm.describe_experiment(ExperimentName="Churn-Exp")
    assert _code(err) == "ResourceNotFound"


def test_metrics_are_summarised_on_the_trial_component(node: NodeThread) -> None:
    sm, metrics = node.client("sagemaker"), node.client("sagemaker-metrics")
    sm.create_trial_component(TrialComponentName="metered")
    now = int(time.time())
    resp = metrics.batch_put_metrics(TrialComponentName="metered", MetricData=[
        {"MetricName": "loss", "Value": v, "Timestamp": now - 10 + i, "Step": i}
        for i, v in enumerate([4.0, 2.0, 3.0])])
    assert "Errors" not in resp
    metrics.batch_put_metrics(TrialComponentName="metered", MetricData=[
        {"MetricName": "loss", "Value": 1.0, "Timestamp": now}, {"MetricName": "acc", "Value": 0.5, "Timestamp": now}])
    d = sm.describe_trial_component(TrialComponentName="metered")
    loss = next(m for m in d["Metrics"] if m["MetricName"] == "loss")
    assert (loss["Count"], loss["Min"], loss["Max"], loss["Last"], loss["Avg"]) == (4, 1.0, 4.0, 1.0, 2.5)
    assert loss["StdDev"] == pytest.approx(1.2909944, rel=1e-6) and loss["SourceArn"] == d["TrialComponentArn"]
    with pytest.raises(ClientError) as err:
        metrics.batch_put_metrics(TrialComponentName="nobody", MetricData=[
            {"MetricName": "x", "Value": 1.0, "Timestamp": now}])
    assert _code(err) == "ResourceNotFound"
    with pytest.raises(ClientError) as err:  # checked against botocore's model, as the control plane is
        metrics.batch_put_metrics(TrialComponentName="Upper-Case", MetricData=[
            {"MetricName": "x", "Value": 1.0, "Timestamp": now}])
    assert _code(err) == "ValidationException"


def test_a_training_job_with_experiment_config_becomes_a_trial_component(node: NodeThread) -> None:
    s3, sm = node.client("s3"), node.client("sagemaker")
    sm.create_experiment(ExperimentName="jobs-exp")
    sm.create_trial(TrialName="jobs-trial", ExperimentName="jobs-exp")
    X, y = make_churn(200, seed=3)
    s3.put_object(Bucket="headwater-data", Key="exp/train/a.csv", Body=to_csv(X, y))
    job = sm.create_training_job(
        TrainingJobName="Exp-Job-1", RoleArn="arn:aws:iam::123456789012:role/r",
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"num_round": "3", "objective": "binary:logistic"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://headwater-data/exp/train/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/exp"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
        ExperimentConfig={"ExperimentName": "jobs-exp", "TrialName": "jobs-trial",
                          "TrialComponentDisplayName": "the-job"})["TrainingJobArn"]
    described = wait_for_job(sm, "Exp-Job-1")
    assert described["TrainingJobStatus"] == "Completed"

    def recorded() -> dict[str, Any] | None:
        found = sm.list_trial_components(SourceArn=job)["TrialComponentSummaries"]
        if not found:
            return None
        d = sm.describe_trial_component(TrialComponentName=found[0]["TrialComponentName"])
        return d if d["Status"]["PrimaryStatus"] == "Completed" else None

    d = wait_for(recorded, 30, what="the job's trial component to record its completion")
    assert d["TrialComponentName"] == "Exp-Job-1-aws-training-job" and d["DisplayName"] == "the-job"
    assert d["Source"] == {"SourceArn": job, "SourceType": "SageMakerTrainingJob"}
    assert d["Parameters"]["num_round"] == {"NumberValue": 3.0}
    assert d["Parameters"]["objective"] == {"StringValue": "binary:logistic"}
    assert d["Parameters"]["SageMaker.InstanceType"] == {"StringValue": "ml.m5.large"}
    assert d["InputArtifacts"]["train"] == {"Value": "s3://headwater-data/exp/train/", "MediaType": "text/csv"}
    assert d["InputArtifacts"]["SageMaker.ImageUri"] == {"Value": IMAGE}
    assert d["OutputArtifacts"]["SageMaker.ModelArtifact"]["Value"] == described["ModelArtifacts"]["S3ModelArtifacts"]
    final = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert {m["MetricName"]: m["Last"] for m in d["Metrics"]} == final
    assert [c["TrialComponentName"] for c in sm.list_trial_components(TrialName="jobs-trial")[
        "TrialComponentSummaries"]] == ["Exp-Job-1-aws-training-job"]

    # Search finds it by its parent, its parameters and its source job
    found = sm.search(Resource="ExperimentTrialComponent", SearchExpression={"Filters": [
        {"Name": "Parents.ExperimentName", "Value": "jobs-exp"},
        {"Name": "Parameters.num_round", "Operator": "GreaterThanOrEqualTo", "Value": "3"}]})["Results"]
    assert [r["TrialComponent"]["TrialComponentName"] for r in found] == ["Exp-Job-1-aws-training-job"]
    record = found[0]["TrialComponent"]
    assert record["Parents"] == [{"TrialName": "jobs-trial", "ExperimentName": "jobs-exp"}]
    assert record["SourceDetail"]["TrainingJob"]["TrainingJobArn"] == job
    trials = sm.search(Resource="ExperimentTrial", SearchExpression={"Filters": [
        {"Name": "ExperimentName", "Value": "jobs-exp"}]})["Results"]
    assert [c["TrialComponentName"] for c in trials[0]["Trial"]["TrialComponentSummaries"]] == [
        "Exp-Job-1-aws-training-job"]
    assert sm.search(Resource="Experiment", SearchExpression={"Filters": [
        {"Name": "ExperimentName", "Value": "jobs-exp"}]})["Results"][0]["Experiment"]["ExperimentArn"].endswith(
        ":experiment/jobs-exp")
