"""Multi-host training: ``algo-1`` ... ``algo-N`` as separate processes with their own ``/opt/ml``.

Proven with real distributed work: PyTorch DDP over gloo (the hosts end with
identical weights though each trained on its own ``ShardedByS3Key`` shard)
and the built-in XGBoost over xgboost's collective communication. Only
``algo-1``'s model is uploaded; a failing host fails the job with its reason.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from infra.demo.datasets import to_csv
from tests.sdk_env import ROLE, sdk_environment, sdk_session
from tests.support import NodeThread, free_port_settings, wait_for_job

SCRIPTS = Path(__file__).parent / "scripts"
DATA = "headwater-data"
ARTIFACTS = "headwater-artifacts"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    # Ended jobs' trees are kept: the tests look into each host's (its config, its shard, its model).
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("multi-host"), keep_job_trees=True)).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def shards(node: NodeThread) -> str:
    rng = np.random.default_rng(11)
    s3 = node.client("s3")
    for i in range(4):
        X = rng.normal(size=(300, 6))
        y = X @ np.array([1.0, -1.0, 0.5, 0.0, 2.0, -0.5]) + 0.1 * rng.normal(size=300)
        s3.put_object(Bucket=DATA, Key=f"multi/train/part-{i}.csv", Body=to_csv(X, y))
    return f"s3://{DATA}/multi/train/"


def _sharded(uri: str) -> Any:
    from sagemaker.inputs import TrainingInput

    return TrainingInput(uri, distribution="ShardedByS3Key", content_type="text/csv")


def _pytorch(node: NodeThread, home: Path, name: str, shards: str, **hps: Any) -> None:
    from sagemaker.pytorch import PyTorch

    with sdk_environment(node, home):
        est = PyTorch(entry_point="ddp_train.py", source_dir=str(SCRIPTS), framework_version="2.1",
                      py_version="py310", instance_type="ml.m5.large", instance_count=2, role=ROLE,
                      hyperparameters={"epochs": 5, **hps}, output_path=f"s3://{ARTIFACTS}/multi",
                      sagemaker_session=sdk_session(ARTIFACTS))
        est.fit({"train": _sharded(shards)}, job_name=name, wait=False)


def _log(node: NodeThread, name: str, host: str) -> str:
    return (node.settings.jobs_dir / name / f"{host}.log").read_text()


def test_ddp_across_two_hosts_exchanges_gradients(node: NodeThread, shards: str,
                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    _pytorch(node, tmp_path_factory.mktemp("sdk"), "ddp-two-hosts", shards)
    d = wait_for_job(node.client("sagemaker"), "ddp-two-hosts", timeout=180)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    logs = {h: _log(node, "ddp-two-hosts", h) for h in ("algo-1", "algo-2")}
    assert "rank 0 of 2 on algo-1: 600 rows" in logs["algo-1"]
    assert "rank 1 of 2 on algo-2: 600 rows" in logs["algo-2"]
    digests = {h: re.search(r"final weights sha256 (\w+)", text).group(1) for h, text in logs.items()}
    assert digests["algo-1"] == digests["algo-2"]  # different shards, identical weights: gradients were averaged
    # Each host had its own tree and its own config, as SageMaker sets them.
    for i, host in enumerate(("algo-1", "algo-2")):
        root = node.settings.jobs_dir / "ddp-two-hosts" / host
        config = json.loads((root / "input/config/resourceconfig.json").read_text())
        assert config["current_host"] == host and config["hosts"] == ["algo-1", "algo-2"]
        assert sorted(p.name for p in (root / "input/data/train").iterdir()) == [f"part-{i}.csv", f"part-{i + 2}.csv"]
    # Only algo-1's model is uploaded; it is the weights both hosts ended with.
    bucket, key = d["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    with tarfile.open(fileobj=io.BytesIO(node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())) as t:
        assert t.getnames() == ["model.pt"]
    streams = node.client("logs").describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                                       logStreamNamePrefix="ddp-two-hosts/")["logStreams"]
    assert sorted(s["logStreamName"].split("/")[1].rsplit("-", 1)[0] for s in streams) == ["algo-1", "algo-2"]


def test_a_failing_host_fails_the_job_with_its_reason(node: NodeThread, shards: str,
                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    _pytorch(node, tmp_path_factory.mktemp("sdk"), "ddp-one-fails", shards, **{"fail-on": "algo-2"})
    d = wait_for_job(node.client("sagemaker"), "ddp-one-fails", timeout=120)
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("algo-2: ")
    assert "RuntimeError: algo-2 failed on purpose" in d["FailureReason"]


def test_builtin_xgboost_trains_across_two_hosts(node: NodeThread, shards: str) -> None:
    sm = node.client("sagemaker")
    sm.create_training_job(
        TrainingJobName="xgb-two-hosts", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
        HyperParameters={"num_round": "15", "objective": "reg:squarederror", "max_depth": "3"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": shards, "S3DataDistributionType": "ShardedByS3Key"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACTS}/multi"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300})
    d = wait_for_job(sm, "xgb-two-hosts", timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert "is rank 0 of 2" in _log(node, "xgb-two-hosts", "algo-1")
    assert "is rank 1 of 2" in _log(node, "xgb-two-hosts", "algo-2")
    assert "Channel 'train': 600 rows" in _log(node, "xgb-two-hosts", "algo-2")
    models = [xgb.Booster(model_file=str(node.settings.jobs_dir / "xgb-two-hosts" / h / "model/xgboost-model"))
              for h in ("algo-1", "algo-2")]
    assert models[0].num_boosted_rounds() == 15
    X = xgb.DMatrix(np.random.default_rng(0).normal(size=(20, 6)))
    np.testing.assert_array_equal(models[0].predict(X), models[1].predict(X))  # allreduced histograms: same trees
