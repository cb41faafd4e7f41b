"""Pipe mode through a real engine's bind mount: the platform's FIFO, the container's reader.

The FIFO ``<channel>_0`` is made on the host inside the job tree that the
engine bind-mounts at ``/opt/ml``; the K-Means container opens
``/opt/ml/input/data/train_0`` and the platform streams S3 into it. Run under
both runners, so the same job is proven with and without the engine.
"""

from __future__ import annotations

import io
import tarfile

import numpy as np

from containers.common.recordio import write_dense
from tests.support import NodeThread, wait_for_job

IMAGES = ("kmeans",)
KMEANS = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
KEEP_JOB_TREES = True  # the test looks into the ended job's tree: nothing landed on disk
ROLE = "arn:aws:iam::123456789012:role/headwater"
CENTERS = np.array([[0, 0, 0], [10, 10, 0], [0, 10, 10]], dtype=np.float32)


def test_kmeans_trains_from_a_fifo_in_the_job_tree(runner_node: NodeThread) -> None:
    runner = runner_node.settings.runner
    s3, sm, bucket = runner_node.client("s3"), runner_node.client("sagemaker"), runner_node.settings.data_bucket
    rng = np.random.default_rng(7)
    X = (CENTERS[rng.integers(0, 3, 600)] + rng.normal(scale=0.3, size=(600, 3))).astype(np.float32)
    for i in range(2):
        buf = io.BytesIO()
        write_dense(buf, X[i * 300:(i + 1) * 300])
        s3.put_object(Bucket=bucket, Key=f"pipe-{runner}/train/part-{i}", Body=buf.getvalue())
    name = f"pipe-kmeans-{runner}"
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE, HyperParameters={"k": "3", "feature_dim": "3"},
        AlgorithmSpecification={"TrainingImage": KMEANS, "TrainingInputMode": "Pipe"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "application/x-recordio-protobuf",
                          "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                          "S3Uri": f"s3://{bucket}/pipe-{runner}/train/"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{runner_node.settings.artifacts_bucket}/pipe"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    d = wait_for_job(sm, name, timeout=240)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    log = (runner_node.settings.jobs_dir / name / "algo-1.log").read_text()
    assert "Channel 'train': 600 records, 3 features from 1 file(s)." in log
    assert ("(container " if runner == "docker" else "(pid ") in log  # the engine ran it, or a process did
    data = runner_node.settings.jobs_dir / name / "algo-1" / "input" / "data"
    assert not list(data.rglob("*"))  # nothing landed on disk; the FIFOs were removed
    artifact = d["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    body = s3.get_object(Bucket=artifact[0], Key=artifact[1])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        centers = np.load(io.BytesIO(tar.extractfile("model_algo-1").read()))  # type: ignore[union-attr]
    gaps = np.linalg.norm(CENTERS[:, None, :] - centers[None, :, :], axis=2).min(1)
    assert gaps.max() < 0.5, centers
