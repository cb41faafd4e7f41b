"""Input modes on a real node: Pipe (FIFOs fed from S3), FastFile, augmented manifests,
and processing inputs in Pipe mode and from a ManifestFile.

Every job runs through the worker with the process runner; Pipe data reaches
the container only through ``<channel>_0``, FastFile data through a FUSE
mount: the job tree never holds a copy. (FastFile's lazy reads are proven in
``test_fast_file.py``.)
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from containers.common.recordio import write_dense
from tests.support import NodeThread, free_port_settings, wait_for, wait_for_job

ROLE = "arn:aws:iam::123456789012:role/headwater"
KMEANS = "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
CENTERS = np.array([[0, 0, 0], [10, 10, 0], [0, 10, 10]], dtype=np.float32)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A node that keeps ended jobs' trees: the tests look into them (what landed on disk, the config)."""
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("input-modes"), keep_job_trees=True)).start()
    yield n
    n.stop()


def _blobs(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (CENTERS[rng.integers(0, 3, n)] + rng.normal(scale=0.3, size=(n, 3))).astype(np.float32)


def _recordio(X: np.ndarray) -> bytes:
    buf = io.BytesIO()
    write_dense(buf, X)
    return buf.getvalue()


def _train(node: NodeThread, name: str, image: str, channels: list[dict[str, Any]], hps: dict[str, str],
           mode: str = "Pipe") -> dict[str, Any]:
    sm = node.client("sagemaker")
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE, HyperParameters=hps,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": mode},
        InputDataConfig=channels,
        OutputDataConfig={"S3OutputPath": f"s3://{node.settings.artifacts_bucket}/input-modes"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300})
    return wait_for_job(sm, name, timeout=180)


def _channel(name: str, uri: str, content_type: str, data_type: str = "S3Prefix", **extra: Any) -> dict[str, Any]:
    return {"ChannelName": name, "ContentType": content_type, **extra,
            "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": uri,
                                            "S3DataDistributionType": "FullyReplicated"}}}


def _model_files(node: NodeThread, desc: dict[str, Any]) -> dict[str, bytes]:
    bucket, key = desc["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    body = node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _data_left(node: NodeThread, job: str) -> list[str]:
    """Regular files under the job's input/data (a Pipe job must have none)."""
    data = node.settings.jobs_dir / job / "algo-1" / "input" / "data"
    return sorted(str(p.relative_to(data)) for p in data.rglob("*")) if data.exists() else []


def _log(node: NodeThread, job: str) -> str:
    return (node.settings.jobs_dir / job / "algo-1.log").read_text()


def test_kmeans_trains_on_recordio_protobuf_streamed_through_the_fifo(node: NodeThread) -> None:
    s3, bucket = node.client("s3"), node.settings.data_bucket
    X = _blobs(900, 1)
    for i in range(3):  # three objects, one stream: key order, RecordIO framing kept
        s3.put_object(Bucket=bucket, Key=f"pipe/kmeans/train/part-{i}", Body=_recordio(X[i * 300:(i + 1) * 300]))
    d = _train(node, "pipe-kmeans", KMEANS,
               [_channel("train", f"s3://{bucket}/pipe/kmeans/train/", "application/x-recordio-protobuf")],
               {"k": "3", "feature_dim": "3", "mini_batch_size": "100"})
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert "Channel 'train': 900 records, 3 features from 1 file(s)." in _log(node, "pipe-kmeans")
    config = json.loads((node.settings.jobs_dir / "pipe-kmeans/algo-1/input/config/inputdataconfig.json").read_text())
    assert config["train"]["TrainingInputMode"] == "Pipe"
    centers = np.load(io.BytesIO(_model_files(node, d)["model_algo-1"]))
    gaps = np.linalg.norm(CENTERS[:, None, :] - centers[None, :, :], axis=2).min(1)
    assert gaps.max() < 0.5, centers
    assert _data_left(node, "pipe-kmeans") == []  # streamed, never landed; the FIFOs are gone too


def test_xgboost_trains_on_gzipped_csv_decompressed_on_the_fly(node: NodeThread) -> None:
    s3, bucket = node.client("s3"), node.settings.data_bucket
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    rows = "".join(f"{label},{a:.4f},{b:.4f},{c:.4f}\n" for label, (a, b, c) in zip(y, X))
    s3.put_object(Bucket=bucket, Key="pipe/xgb/train/a.csv.gz", Body=gzip.compress(rows[: len(rows) // 2].encode()))
    s3.put_object(Bucket=bucket, Key="pipe/xgb/train/b.csv.gz", Body=gzip.compress(rows[len(rows) // 2:].encode()))
    # The channel's own InputMode overrides the job's File.
    d = _train(node, "pipe-xgb", XGBOOST,
               [_channel("train", f"s3://{bucket}/pipe/xgb/train/", "text/csv", CompressionType="Gzip",
                         InputMode="Pipe")],
               {"objective": "binary:logistic", "num_round": "20", "max_depth": "3"}, mode="File")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert [m["MetricName"] for m in d["FinalMetricDataList"]] == ["train:logloss"]
    assert d["FinalMetricDataList"][0]["Value"] < 0.3  # it learned the separable rule from every row
    assert _data_left(node, "pipe-xgb") == []


def test_augmented_manifest_streams_attributes_as_recordio_records(node: NodeThread) -> None:
    s3, bucket = node.client("s3"), node.settings.data_bucket
    X = _blobs(120, 3)
    lines = []
    for i in range(4):  # each source-ref object is one RecordIO-protobuf record set of 30 rows
        s3.put_object(Bucket=bucket, Key=f"aug/rows-{i}.rec", Body=_recordio(X[i * 30:(i + 1) * 30]))
        lines.append(json.dumps({"note": "ignored", "source-ref": f"s3://{bucket}/aug/rows-{i}.rec"}))
    s3.put_object(Bucket=bucket, Key="aug/train.manifest", Body="\n".join(lines).encode())
    channel = _channel("train", f"s3://{bucket}/aug/train.manifest", "application/x-recordio-protobuf",
                       data_type="AugmentedManifestFile")
    channel["DataSource"]["S3DataSource"]["AttributeNames"] = ["source-ref"]
    d = _train(node, "pipe-augmented", KMEANS, [channel], {"k": "3", "feature_dim": "3"})
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert "Channel 'train': 120 records" in _log(node, "pipe-augmented")
    # File mode refuses augmented manifests at the API, as SageMaker does; nothing is recorded.
    sm = node.client("sagemaker")
    with pytest.raises(ClientError) as err:
        sm.create_training_job(
            TrainingJobName="aug-file", RoleArn=ROLE, HyperParameters={"k": "3", "feature_dim": "3"},
            AlgorithmSpecification={"TrainingImage": KMEANS, "TrainingInputMode": "File"}, InputDataConfig=[channel],
            OutputDataConfig={"S3OutputPath": f"s3://{node.settings.artifacts_bucket}/x"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 300})
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "only for channels using Pipe input mode" in err.value.response["Error"]["Message"]
    assert not sm.list_training_jobs(NameContains="aug-file")["TrainingJobSummaries"]


def test_a_missing_object_mid_stream_fails_the_job_naming_it(node: NodeThread) -> None:
    s3, bucket = node.client("s3"), node.settings.data_bucket
    s3.put_object(Bucket=bucket, Key="pipe/missing/a.rec", Body=_recordio(_blobs(50, 4)))
    manifest = [{"prefix": f"s3://{bucket}/pipe/missing/"}, "a.rec", "gone.rec"]
    s3.put_object(Bucket=bucket, Key="pipe/missing/manifest", Body=json.dumps(manifest).encode())
    d = _train(node, "pipe-missing", KMEANS,
               [_channel("train", f"s3://{bucket}/pipe/missing/manifest", "application/x-recordio-protobuf",
                         data_type="ManifestFile")], {"k": "3", "feature_dim": "3"})
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert "Channel train" in reason and f"s3://{bucket}/pipe/missing/gone.rec" in reason, reason
    assert "NoSuchKey" in reason
    assert s3.head_object(Bucket=bucket, Key="pipe/missing/a.rec")  # the user's data is untouched


def test_fast_file_reads_as_file_mode_in_the_container(node: NodeThread) -> None:
    s3, bucket = node.client("s3"), node.settings.data_bucket
    s3.put_object(Bucket=bucket, Key="fastfile/train/a.rec", Body=_recordio(_blobs(90, 5)))
    d = _train(node, "fastfile-kmeans", KMEANS,
               [_channel("train", f"s3://{bucket}/fastfile/train/", "application/x-recordio-protobuf")],
               {"k": "3", "feature_dim": "3"}, mode="FastFile")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"  # the request as made
    config = json.loads((node.settings.jobs_dir / "fastfile-kmeans/algo-1/input/config/"
                         "inputdataconfig.json").read_text())
    assert config["train"]["TrainingInputMode"] == "File"
    # Mounted through FUSE, not downloaded: once unmounted the channel directory is empty.
    assert _data_left(node, "fastfile-kmeans") == ["train"]
    assert "FastFile channel train: read 0.0 MiB of 0.0 MiB from S3 (1 file(s))" in _log(node, "fastfile-kmeans")


def _process(node: NodeThread, name: str, inputs: list[dict[str, Any]], code: str) -> dict[str, Any]:
    sm = node.client("sagemaker")
    sm.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE,
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 5}},
        AppSpecification={"ImageUri": "headwater/sklearn", "ContainerEntrypoint": ["python3", "-c", code]},
        ProcessingInputs=inputs,
        ProcessingOutputConfig={"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": f"s3://{node.settings.artifacts_bucket}/{name}/out", "LocalPath": "/opt/ml/processing/out",
            "S3UploadMode": "EndOfJob"}}]},
        StoppingCondition={"MaxRuntimeInSeconds": 300})

    def done() -> dict[str, Any] | None:
        desc = sm.describe_processing_job(ProcessingJobName=name)
        return desc if desc["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped") else None

    return wait_for(done, 180, what=f"processing job {name}")


def test_processing_reads_a_pipe_input_and_a_manifest_input(node: NodeThread) -> None:
    s3, bucket = node.client("s3"), node.settings.data_bucket
    s3.put_object(Bucket=bucket, Key="proc/pipe/a.txt.gz", Body=gzip.compress(b"alpha\nbeta\n"))
    s3.put_object(Bucket=bucket, Key="proc/pipe/b.txt.gz", Body=gzip.compress(b"gamma\n"))
    for key in ("x.txt", "y.txt", "not-listed.txt"):
        s3.put_object(Bucket=bucket, Key=f"proc/files/{key}", Body=key.encode())
    s3.put_object(Bucket=bucket, Key="proc/files.manifest",
                  Body=json.dumps([{"prefix": f"s3://{bucket}/proc/files/"}, "x.txt", "y.txt"]).encode())
    code = ("import os,json,stat;p='/opt/ml/processing/stream_0';f=stat.S_ISFIFO(os.stat(p).st_mode);"
            "json.dump([f,open(p).read(),sorted(os.listdir('/opt/ml/processing/files'))],"
            "open('/opt/ml/processing/out/seen.json','w'))")
    assert len(code) <= 256  # the API's limit on each entrypoint element
    d = _process(node, "proc-pipe", [
        {"InputName": "stream", "S3Input": {"S3Uri": f"s3://{bucket}/proc/pipe/", "S3DataType": "S3Prefix",
                                            "LocalPath": "/opt/ml/processing/stream", "S3InputMode": "Pipe",
                                            "S3CompressionType": "Gzip"}},
        {"InputName": "files", "S3Input": {"S3Uri": f"s3://{bucket}/proc/files.manifest",
                                           "S3DataType": "ManifestFile", "LocalPath": "/opt/ml/processing/files",
                                           "S3InputMode": "File"}},
    ], code)
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    seen = json.loads(s3.get_object(Bucket=node.settings.artifacts_bucket,
                                    Key="proc-pipe/out/seen.json")["Body"].read())
    assert seen == [True, "alpha\nbeta\ngamma\n", ["x.txt", "y.txt"]]  # a FIFO, decompressed; the manifest's two


def test_processing_pipe_input_that_breaks_fails_the_job_naming_the_object(node: NodeThread) -> None:
    s3, bucket = node.client("s3"), node.settings.data_bucket
    s3.put_object(Bucket=bucket, Key="proc/broken/a.txt", Body=b"x\n")
    s3.put_object(Bucket=bucket, Key="proc/broken.manifest",
                  Body=json.dumps([{"prefix": f"s3://{bucket}/proc/broken/"}, "a.txt", "b.txt"]).encode())
    d = _process(node, "proc-broken", [
        {"InputName": "stream", "S3Input": {"S3Uri": f"s3://{bucket}/proc/broken.manifest",
                                            "S3DataType": "ManifestFile", "LocalPath": "/opt/ml/processing/in",
                                            "S3InputMode": "Pipe"}}],
        "print(len(open('/opt/ml/processing/in_0').read()))")
    assert d["ProcessingJobStatus"] == "Failed"
    assert f"s3://{bucket}/proc/broken/b.txt" in d["FailureReason"], d["FailureReason"]
