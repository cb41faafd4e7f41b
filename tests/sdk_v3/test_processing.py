"""The SageMaker Python SDK v3's processing classes, unchanged, against a node: ``ScriptProcessor`` and
``FrameworkProcessor`` (``sagemaker.core.processing``) run a small scikit-learn script over S3 data.

``run(wait=True, logs=True)`` uploads the code to the session's default bucket, creates the job
(``CreateProcessingJob``), prints the job's log from CloudWatch Logs as it runs, and returns with the job's
``sagemaker.core.resources.ProcessingJob``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from infra.cli.endpoints import env_exports, read_endpoints
from infra.demo.datasets import to_csv
from tests.sdk_v3.support import V3Run, exported, run_v3, v3_environment
from tests.support import NodeThread

pytestmark = pytest.mark.sdk

RAW = "s3://headwater-data/sdk-v3-processing/raw/"


@pytest.fixture(scope="module")
def env(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The user's shell after ``eval "$(headwater env)"``, and a raw dataset of 100 rows in two files."""
    for i, rows in enumerate((60, 40)):
        x = np.random.default_rng(i).normal(size=(rows, 3))
        node.client("s3").put_object(Bucket="headwater-data", Key=f"sdk-v3-processing/raw/part-{i}.csv",
                                     Body=to_csv(x, (x[:, 0] > 0).astype(int)))
    exports = exported(env_exports(read_endpoints(node.settings.state_dir)))
    yield v3_environment(exports, tmp_path_factory.mktemp("sdk-v3-home"))


def _rows(node: NodeThread, uri: str) -> int:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body: bytes = node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return len(body.decode().splitlines())


def _check_split(node: NodeThread, run: V3Run, destination: str) -> None:
    """The job completed, its log reached the caller, and its outputs are in S3."""
    result = run.result
    assert result["status"] == "Completed"
    assert result["arguments"] == ["--test-size", "0.2"]
    assert result["outputs"] == {"train": f"{destination}/train", "test": f"{destination}/test"}
    # logs=True: the job's own log, printed by the SDK as the job ran.
    assert "split 100 rows into 80 train and 20 test on algo-1, MARK=from-v3" in run.output
    assert _rows(node, f"{destination}/train/train.csv") == 80 and _rows(node, f"{destination}/test/test.csv") == 20
    desc = node.client("sagemaker").describe_processing_job(ProcessingJobName=result["job"])
    assert desc["AppSpecification"]["ImageUri"] == result["image"]
    assert desc["Environment"] == {"MARK": "from-v3"}


def test_script_processor_runs_a_scikit_learn_script(node: NodeThread, env: dict[str, str]) -> None:
    destination = "s3://headwater-artifacts/sdk-v3-processing/script"
    run = run_v3("process_sklearn", env, "script", env["SAGEMAKER_EXECUTION_ROLE_ARN"], RAW, destination,
                 "headwater-artifacts")
    _check_split(node, run, destination)
    assert run.result["entrypoint"] == ["python3", "/opt/ml/processing/input/code/split.py"]


def test_framework_processor_runs_a_source_dir_through_its_runproc_script(node: NodeThread,
                                                                         env: dict[str, str]) -> None:
    destination = "s3://headwater-artifacts/sdk-v3-processing/framework"
    run = run_v3("process_sklearn", env, "framework", env["SAGEMAKER_EXECUTION_ROLE_ARN"], RAW, destination,
                 "headwater-artifacts")
    _check_split(node, run, destination)
    # v3 packs source_dir as sourcedir.tar.gz and starts the generated runproc.sh, which unpacks and runs it.
    assert run.result["entrypoint"] == ["/bin/bash", "/opt/ml/processing/input/entrypoint/runproc.sh"]
    assert "Files after extraction:" in run.output
