"""The SageMaker Python SDK v3's remote functions, unchanged, against a node: ``@remote`` and
``RemoteExecutor`` run a pickled function as a training job and hand its value (or its exception) back.

v3 uploads the function, its arguments and a runtime bootstrap to S3 and starts the job with its own
``ContainerEntrypoint`` (``/bin/bash .../job_driver.sh``), whose ``python`` must be the image's: the same
Python minor version as the caller's, with the SDK v3 in it (``python -m sagemaker.core.remote_function.
invoke_function``). A user's own image stands for such an environment; under the process runner the node's
``image_interpreters`` setting names the interpreter that stands in for that image, here the v3 virtualenv's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sdk_v3.support import V3_PYTHON, run_v3
from tests.support import NodeThread, free_port_settings, wait_for, wait_for_job

pytestmark = pytest.mark.sdk

# The user's own image, with the SDK v3 in it (on AWS: an ECR repository of the user's account).
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/v3-remote-functions:latest"
S3_ROOT = "s3://headwater-artifacts/sdk-v3-remote"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A node on which ``IMAGE`` (any tag of its repository) runs with the v3 virtualenv's interpreter."""
    settings = free_port_settings(tmp_path_factory.mktemp("node"),
                                  image_interpreters={IMAGE.rsplit(":", 1)[0]: str(V3_PYTHON)})
    n = NodeThread(settings).start()
    yield n
    n.stop()


def test_remote_functions_run_as_training_jobs_and_return_their_values(node: NodeThread,
                                                                       shell: dict[str, str]) -> None:
    run = run_v3("remote_function", shell, shell["SAGEMAKER_EXECUTION_ROLE_ARN"], IMAGE, S3_ROOT, "headwater-artifacts")
    result = run.result
    divide = result["divide"]
    assert divide["quotient"] == 2.5
    # It ran in the job: in the job's own environment over the interpreter standing in for the image (whose
    # SDK v3 the function's bootstrap imported).
    assert Path(divide["prefix"]).name == ".python" and Path(divide["prefix"]).parent.name == "algo-1"
    assert divide["job"].startswith("v3-remote-divide-")
    assert result["raised"] == {"type": "ZeroDivisionError", "message": "division by zero"}
    assert sorted(result["squares"]) == [9, 16]

    sm = node.client("sagemaker")
    desc = sm.describe_training_job(TrainingJobName=divide["job"])
    assert desc["TrainingJobStatus"] == "Completed" and desc["RoleArn"] == shell["SAGEMAKER_EXECUTION_ROLE_ARN"]
    assert desc["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert desc["AlgorithmSpecification"]["ContainerEntrypoint"] == [
        "/bin/bash", "/opt/ml/input/data/sagemaker_remote_function_bootstrap/job_driver.sh"]
    assert [c["ChannelName"] for c in desc["InputDataConfig"]] == ["sagemaker_remote_function_bootstrap"]
    # The function's value is where v3 reads it: <s3 root>/<job>/results.
    keys = [o["Key"] for o in node.client("s3").list_objects_v2(
        Bucket="headwater-artifacts", Prefix=f"sdk-v3-remote/{divide['job']}/results/")["Contents"]]
    assert keys and all(k.startswith(f"sdk-v3-remote/{divide['job']}/results/") for k in keys)
    # The failing call's job failed, as on SageMaker, with the reason the SDK read the exception from.
    failed = [j for j in sm.list_training_jobs(NameContains="v3-remote-divide-")["TrainingJobSummaries"]
              if j["TrainingJobStatus"] == "Failed"]
    assert len(failed) == 1
    reason = sm.describe_training_job(TrainingJobName=failed[0]["TrainingJobName"])["FailureReason"]
    assert "ZeroDivisionError" in reason


def test_an_interpreter_image_needs_the_jobs_own_entrypoint(node: NodeThread, shell: dict[str, str]) -> None:
    # An interpreter is not an image's program: without a ContainerEntrypoint there is nothing to run.
    sm = node.client("sagemaker")
    sm.create_training_job(
        TrainingJobName="interpreter-without-entrypoint", RoleArn=shell["SAGEMAKER_EXECUTION_ROLE_ARN"],
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": S3_ROOT},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    desc = wait_for_job(sm, "interpreter-without-entrypoint")
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("ClientError: ")
    assert "ContainerEntrypoint" in desc["FailureReason"] and IMAGE in desc["FailureReason"]


def test_an_image_without_a_container_or_an_interpreter_is_refused(node: NodeThread, shell: dict[str, str]) -> None:
    sm = node.client("sagemaker")
    other = "123456789012.dkr.ecr.us-east-1.amazonaws.com/something-else:1"
    sm.create_training_job(
        TrainingJobName="unknown-image", RoleArn=shell["SAGEMAKER_EXECUTION_ROLE_ARN"],
        AlgorithmSpecification={"TrainingImage": other, "TrainingInputMode": "File",
                                "ContainerEntrypoint": ["python3", "-c", "print(1)"]},
        OutputDataConfig={"S3OutputPath": S3_ROOT},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    desc = wait_for_job(sm, "unknown-image")
    assert desc["TrainingJobStatus"] == "Failed" and "No container is known for image" in desc["FailureReason"]


def _wait_processing(sm: Any, name: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        d = sm.describe_processing_job(ProcessingJobName=name)
        return d if d["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped") else None

    return wait_for(done, 60, what=f"processing job {name}")


def test_a_processing_job_runs_on_an_interpreter_image(node: NodeThread, shell: dict[str, str]) -> None:
    sm = node.client("sagemaker")
    common: dict[str, Any] = dict(
        RoleArn=shell["SAGEMAKER_EXECUTION_ROLE_ARN"], StoppingCondition={"MaxRuntimeInSeconds": 60},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 1}})
    sm.create_processing_job(ProcessingJobName="on-interpreter-image", **common, AppSpecification={
        "ImageUri": IMAGE, "ContainerEntrypoint": [
            "python3", "-c", "import sys, sagemaker.core.remote_function; print('PREFIX', sys.prefix)"]})
    sm.create_processing_job(ProcessingJobName="on-interpreter-image-no-entrypoint", **common,
                             AppSpecification={"ImageUri": IMAGE})
    assert _wait_processing(sm, "on-interpreter-image")["ProcessingJobStatus"] == "Completed"
    log = (node.settings.jobs_dir / "processing" / "on-interpreter-image" / "algo-1.log").read_text()
    # The job's own environment over the named interpreter: the SDK v3 it holds imported.
    prefix = node.settings.jobs_dir / "processing" / "on-interpreter-image" / "algo-1" / ".python"
    assert f"PREFIX {prefix}" in log.splitlines(), log
    failed = _wait_processing(sm, "on-interpreter-image-no-entrypoint")
    assert failed["ProcessingJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith("ClientError: ") and "ContainerEntrypoint" in failed["FailureReason"]
