"""FastFile test support: a probe program that reads a channel the way the tests need, and its job.

The probe (script mode, ``probe.py``) lists ``SM_CHANNEL_TRAIN``, reads every
small file, hashes the head of the ``.bin`` file and 64 KiB at ``--offset``,
and writes what it saw (with ``inputdataconfig.json``) to
``/opt/ml/model/seen.json``. With ``--wait-for-go 1`` it first marks
``output/intermediate/listed`` and waits for ``go`` there, so a test can
change S3 under the mount before the program reads.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from typing import Any

from tests.support import NodeThread, wait_for_job

ROLE = "arn:aws:iam::123456789012:role/headwater"
SKLEARN = "headwater/sklearn"

PROBE = r'''
import argparse, hashlib, json, os, time

parser = argparse.ArgumentParser()
parser.add_argument("--offset", type=int, default=0)
parser.add_argument("--wait-for-go", type=int, default=0)
args = parser.parse_args()
base = os.environ["SM_CHANNEL_TRAIN"]
listing = sorted(os.path.relpath(os.path.join(d, f), base) for d, _, files in os.walk(base) for f in files)
print("listing:", json.dumps(listing), flush=True)
if args.wait_for_go:  # the test changes S3 under the mount, then lets the program read
    flags = os.environ["SM_OUTPUT_INTERMEDIATE_DIR"]
    open(os.path.join(flags, "listed"), "w").close()
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(flags, "go")) and time.time() < deadline:
        time.sleep(0.1)
seen = {"listing": listing, "sizes": {p: os.path.getsize(os.path.join(base, p)) for p in listing},
        "small": {p: open(os.path.join(base, p)).read() for p in listing if not p.endswith(".bin")}}
for name in (p for p in listing if p.endswith(".bin")):
    with open(os.path.join(base, name), "rb") as f:
        seen["head"] = hashlib.sha256(f.read(1 << 20)).hexdigest()
        f.seek(args.offset)
        seen["middle"] = hashlib.sha256(f.read(65536)).hexdigest()
seen["config"] = json.load(open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"], "inputdataconfig.json")))
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as out:
    json.dump(seen, out)
print("probe done", flush=True)
'''



def upload_probe(node: NodeThread) -> str:
    """The probe as the SDK would upload it (``sourcedir.tar.gz``); its S3 URI."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        body = PROBE.encode()
        info = tarfile.TarInfo("probe.py")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    node.client("s3").put_object(Bucket=node.settings.artifacts_bucket, Key="fast-file/sourcedir.tar.gz",
                                 Body=buf.getvalue())
    return f"s3://{node.settings.artifacts_bucket}/fast-file/sourcedir.tar.gz"


def train_probe(node: NodeThread, name: str, source: str, uri: str, *, hosts: int = 1,
                distribution: str = "FullyReplicated", offset: int = 0, wait_for_go: bool = False,
                wait: bool = True) -> dict[str, Any]:
    """Run the probe on the FastFile channel ``train`` at ``uri``; its description once terminal."""
    sm = node.client("sagemaker")
    hps = {"sagemaker_program": '"probe.py"', "sagemaker_submit_directory": json.dumps(source),
           "offset": str(offset)}
    if wait_for_go:
        hps["wait-for-go"] = "1"
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE, HyperParameters=hps,
        AlgorithmSpecification={"TrainingImage": SKLEARN, "TrainingInputMode": "FastFile"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": distribution}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{node.settings.artifacts_bucket}/fast-file"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": hosts, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300})
    return wait_for_job(sm, name, timeout=240) if wait else {}


def seen(node: NodeThread, desc: dict[str, Any]) -> dict[str, Any]:
    """What the probe saw, from the job's ``model.tar.gz``."""
    bucket, key = desc["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    body = node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return json.loads(tar.extractfile("seen.json").read())  # type: ignore[union-attr]


def job_log(node: NodeThread, job: str, host: str = "algo-1") -> str:
    """A host's job log as the worker wrote it."""
    return (node.settings.jobs_dir / job / f"{host}.log").read_text()


def fetched(log: str) -> tuple[float, float]:
    """(MiB fetched from S3, MiB the channel holds) from the log's FastFile stats line."""
    found = re.search(r"FastFile channel train: read ([\d.]+) MiB of ([\d.]+) MiB from S3", log)
    assert found, log
    return float(found.group(1)), float(found.group(2))
