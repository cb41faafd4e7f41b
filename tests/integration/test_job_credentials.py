"""A job's code runs as the job's execution role: a session of ``RoleArn``, never the node's identity.

Training and processing scripts ask STS who they are (``GetCallerIdentity``)
with the credentials their environment gives them, and print it; the job's
log must show a session of the job's own role, named after the job (a role
that cannot be assumed: tests/unit/test_sts_job_credentials.py).
"""

from __future__ import annotations

from typing import Any

from tests.support import NodeThread, source_archive, wait_for, wait_for_job

WHOAMI = """
import boto3
print("caller:", boto3.client("sts").get_caller_identity()["Arn"], flush=True)
"""
ROLE = "arn:aws:iam::123456789012:role/data-scientist"


def _upload(node: NodeThread, name: str) -> str:
    key = f"credentials/{name}/sourcedir.tar.gz"
    node.client("s3").put_object(Bucket=node.settings.artifacts_bucket, Key=key,
                                 Body=source_archive(WHOAMI, "whoami.py"))
    return f"s3://{node.settings.artifacts_bucket}/{key}"


def _log(node: NodeThread, group: str, prefix: str) -> str:
    logs = node.client("logs")
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)["logStreams"]
    return "\n".join(e["message"] for s in streams for e in logs.get_log_events(
        logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)["events"])


def _train(node: NodeThread, name: str, role: str) -> dict[str, Any]:
    sm = node.client("sagemaker")
    sm.create_training_job(
        TrainingJobName=name, RoleArn=role,
        AlgorithmSpecification={"TrainingImage": "headwater/sklearn", "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"whoami.py"', "sagemaker_submit_directory": f'"{_upload(node, name)}"'},
        OutputDataConfig={"S3OutputPath": f"s3://{node.settings.artifacts_bucket}/credentials"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    return wait_for_job(sm, name)


def test_a_training_script_runs_as_a_session_of_the_jobs_role(node: NodeThread) -> None:
    job = _train(node, "whoami-train", ROLE)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    log = _log(node, "/aws/sagemaker/TrainingJobs", "whoami-train/")
    assert "caller: arn:aws:sts::123456789012:assumed-role/data-scientist/whoami-train-job" in log, log


def test_a_processing_script_runs_as_a_session_of_the_jobs_role(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    code = _upload(node, "whoami-processing")
    sm.create_processing_job(
        ProcessingJobName="whoami-processing", RoleArn=ROLE,
        AppSpecification={"ImageUri": "headwater/sklearn",
                          "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/whoami.py"]},
        ProcessingInputs=[{"InputName": "code", "S3Input": {
            "S3Uri": code.removesuffix("sourcedir.tar.gz") + "whoami.py", "LocalPath": "/opt/ml/processing/input/code",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 1}},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    node.client("s3").put_object(Bucket=node.settings.artifacts_bucket,
                                 Key="credentials/whoami-processing/whoami.py", Body=WHOAMI.encode())

    def ended() -> dict[str, Any] | None:
        d = sm.describe_processing_job(ProcessingJobName="whoami-processing")
        return d if d["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped") else None

    job = wait_for(ended, 120, what="the processing job to end")
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    log = _log(node, "/aws/sagemaker/ProcessingJobs", "whoami-processing/")
    assert "assumed-role/data-scientist/whoami-processing-job" in log, log
