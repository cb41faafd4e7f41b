"""The end-to-end story, shared by the e2e tier (embedded moto) and the
LocalStack tier: ``headwater up`` in a subprocess, a user's file dropped in
the bucket, the job followed through the CLI, boto3 and the Lambda API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from infra.demo.datasets import make_churn, split, to_csv
from services.core.settings import Settings
from tests.support import CREDS, wait_for, wait_for_job


class UpProcess:
    """``headwater up`` as a user runs it, in the foreground of its own session."""

    def __init__(self, state_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.log = state_dir.parent / f"{state_dir.name}-up.log"
        # The settings the node reads: its HEADWATER_* environment (bucket names, grace...) and this state dir.
        own = {k.removeprefix("HEADWATER_").lower(): v for k, v in (env or {}).items() if k.startswith("HEADWATER_")}
        self.settings = Settings(**{**own, "state_dir": state_dir})
        state_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "infra.cli", "--state-dir", str(state_dir), "up",
                "--sagemaker-port", "0", "--runtime-port", "0", "--lambda-port", "0", "--autoscaling-port", "0",
                *extra]
        self.proc = subprocess.Popen(args, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    def wait_ready(self, timeout: float = 90) -> dict[str, str]:
        path = self.state_dir / "endpoints.json"

        def ready() -> dict[str, str] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"headwater up exited with {self.proc.returncode}:\n{self.log.read_text()}")
            if not path.exists():
                return None
            doc = json.loads(path.read_text())
            return doc if doc.get("pid") == self.proc.pid else None  # not a killed node's leftover

        self.endpoints = wait_for(ready, timeout, what="headwater up to write endpoints.json")
        return self.endpoints

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run another ``headwater`` command against this node."""
        return subprocess.run([sys.executable, "-m", "infra.cli", "--state-dir", str(self.state_dir), *args],
                              capture_output=True, text=True, timeout=timeout)

    def client(self, service: str) -> Any:
        key = {"sagemaker": "sagemaker", "sagemaker-runtime": "runtime", "lambda": "lambda"}.get(service, "aws")
        return boto3.client(service, endpoint_url=self.endpoints[key],
                            config=Config(s3={"addressing_style": "path"}), **CREDS)

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a user stops it; returns the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _churn_csvs(rows: int, seed: int) -> tuple[bytes, bytes]:
    X, y = make_churn(rows, seed)
    (xt, yt), (xv, yv) = split(X, y)
    return to_csv(xt, yt), to_csv(xv, yv)


def run_story(up: UpProcess, dataset: str) -> None:
    """Drop a file, get a model; check every user-facing surface on the way."""
    endpoints = up.endpoints
    env_out = up.cli("env")
    assert env_out.returncode == 0, env_out.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in env_out.stdout.splitlines())
    assert exports["AWS_ENDPOINT_URL_SAGEMAKER"] == endpoints["sagemaker"]
    assert exports["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == endpoints["runtime"]
    assert exports["AWS_ENDPOINT_URL_LAMBDA"] == endpoints["lambda"]
    assert exports["AWS_ENDPOINT_URL"] == endpoints["aws"]

    s3, sm = up.client("s3"), up.client("sagemaker")
    train, validation = _churn_csvs(1500, seed=3)
    s3.put_object(Bucket="headwater-data", Key=f"datasets/{dataset}/validation/v.csv", Body=validation)
    s3.put_object(Bucket="headwater-data", Key=f"datasets/{dataset}/train/part-1.csv", Body=train)
    [job] = wait_for(lambda: sm.list_training_jobs(NameContains=dataset)["TrainingJobSummaries"], 60,
                     what="the upload to start a job")
    name = job["TrainingJobName"]

    follow = up.cli("logs", name, "--follow", timeout=180)  # streams until the job ends
    assert follow.returncode == 0, follow.stdout + follow.stderr
    assert "#011validation-logloss:" in follow.stdout
    assert follow.stdout.strip().splitlines()[-1].startswith(f"--- {name}: Completed")

    desc = wait_for_job(sm, name)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["HyperParameters"]["objective"] == "binary:logistic"  # inferred from the 0/1 label
    assert [c["ChannelName"] for c in desc["InputDataConfig"]] == ["train", "validation"]
    artifact = desc["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, key = artifact.removeprefix("s3://").split("/", 1)
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0

    jobs = up.cli("jobs")
    assert jobs.returncode == 0, jobs.stderr
    [row] = [line for line in jobs.stdout.splitlines() if line.startswith(name)]
    assert "Completed" in row

    logs = up.cli("logs", name)
    assert "Headwater: started containers.xgboost" in logs.stdout and "#011train-logloss:" in logs.stdout

    # a handler invoked by hand and through the Lambda Invoke API
    key2 = f"datasets/{dataset}-b/train/part.csv"
    etag = s3.put_object(Bucket="headwater-data", Key=key2, Body=train)["ETag"].strip('"')
    event = {"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
             "account": "000000000000", "time": "2026-11-22T10:00:00Z", "region": "us-east-1", "resources": [],
             "detail": {"bucket": {"name": "headwater-data"}, "object": {"key": key2, "size": 1, "etag": etag}}}
    event_file = up.state_dir / "event.json"
    event_file.write_text(json.dumps(event))
    invoked = up.cli("invoke", "start-training-on-upload", "--event", str(event_file))
    assert invoked.returncode == 0 and json.loads(invoked.stdout) == {"handled": 1}, invoked.stderr
    resp = up.client("lambda").invoke(FunctionName="start-training-on-upload", Payload=json.dumps(event).encode())
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    jobs_b = sm.list_training_jobs(NameContains=f"{dataset}-b")["TrainingJobSummaries"]
    assert len(jobs_b) == 1  # the upload's own event, the CLI and the Lambda API named the same job
    wait_for_job(sm, jobs_b[0]["TrainingJobName"])



