"""On "SageMaker Training Job State Change" (Completed): register the job's model in a model package group
when its final metric beats the threshold."""

import os

import boto3

sm = boto3.client("sagemaker")


def handler(event, context):
    name = event["detail"]["TrainingJobName"]
    job = sm.describe_training_job(TrainingJobName=name)
    metrics = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
    metric, threshold = os.environ["METRIC_NAME"], float(os.environ["THRESHOLD"])
    value = metrics.get(metric)
    minimize = os.environ.get("METRIC_GOAL", "Minimize") == "Minimize"
    if value is None or (value >= threshold if minimize else value <= threshold):
        print(f"{name}: {metric}={value} does not beat {threshold}; not registered")
        return {"registered": False}
    group = os.environ["MODEL_PACKAGE_GROUP"]
    try:
        sm.create_model_package_group(ModelPackageGroupName=group)
    except sm.exceptions.ClientError as err:
        if "already exists" not in str(err):
            raise
    package = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"{name}: {metric}={value:.4f}",
        InferenceSpecification={
            "Containers": [{"Image": job["AlgorithmSpecification"]["TrainingImage"],
                            "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"TrainingJobName": name, metric: str(value)})
    print(f"{name}: {metric}={value} beats {threshold}; registered {package['ModelPackageArn']}")
    return {"registered": True, "ModelPackageArn": package["ModelPackageArn"]}
