"""``headwater worker`` subprocesses against a node's AWS endpoint, and a job that trains long enough to be hurt.

Shared by the worker-resilience tests and the fault suite: they kill, stall
and resume real worker processes (and the training processes those started)
while a job trains, then read what became of the job.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infra.demo.datasets import to_csv
from tests.support import NodeThread, wait_for


class WorkerProcess:
    """``headwater worker`` in its own session, against the node's AWS endpoint."""

    def __init__(self, node: NodeThread, log: Path) -> None:
        s = node.settings
        env = {**os.environ, "HEADWATER_VISIBILITY_TIMEOUT": str(s.visibility_timeout),
               "HEADWATER_HEARTBEAT_SECONDS": str(s.heartbeat_seconds),
               "HEADWATER_TASK_MAX_ATTEMPTS": str(s.task_max_attempts), "HEADWATER_POLL_WAIT_SECONDS": "1"}
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "--state-dir", str(s.state_dir), "worker",
             "--aws-endpoint", str(s.endpoint_url), "--concurrency", "1"],
            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def kill_with_its_container(self, job_log: Path, attempt: int) -> None:
        """SIGKILL this worker and the training process it started (both ours)."""
        pids = container_pids(job_log)
        assert len(pids) >= attempt, job_log.read_text()
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        try:
            os.killpg(pids[attempt - 1], signal.SIGKILL)
        except ProcessLookupError:
            pass

    def pause(self) -> None:
        """SIGSTOP this worker (not the containers it started: they run in sessions of their own)."""
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def interrupt(self) -> None:
        """Ctrl-C in the worker's terminal: SIGINT to its process group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.resume()  # a stopped process cannot act on SIGTERM
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def slow_job(node: NodeThread, name: str, num_round: int = 100000) -> None:
    """A built-in XGBoost job on 4,000 rows: with the default ``num_round`` it trains for minutes unless
    stopped; a few thousand rounds take seconds."""
    s3, sm = node.client("s3"), node.client("sagemaker")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4000, 8))
    y = (X[:, 0] + rng.normal(size=4000) > 0).astype(int)
    s3.put_object(Bucket="headwater-data", Key=f"slow/{name}/train.csv", Body=to_csv(X, y))
    sm.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/r",
        AlgorithmSpecification={"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
        HyperParameters={"num_round": str(num_round), "max_depth": "8", "objective": "binary:logistic"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://headwater-data/slow/{name}/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/slow"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600})


def started(job_log: Path, attempt: int) -> bool:
    """The attempt's container has been launched (its pid is logged)."""
    return job_log.exists() and len(container_pids(job_log)) >= attempt


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie has ended)."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):  # reaped between the two looks
        return False


def container_pids(job_log: Path) -> list[int]:
    """The pids of the job's containers, one per attempt, in launch order (from the executor's log line)."""
    return [int(p) for p in re.findall(r"Headwater: started \S+ \(pid (\d+)\)", job_log.read_text())]


def training_attempt(sm: Any, name: str, attempt: int) -> bool:
    """The job has entered ``Training`` at least ``attempt`` times."""
    d = sm.describe_training_job(TrainingJobName=name)
    return sum(t["Status"] == "Training" for t in d["SecondaryStatusTransitions"]) >= attempt


@dataclass
class TrainingUnderWorker:
    """A slow job training under its first worker, and the worker that takes it over (started by the test)."""

    node: NodeThread
    sm: Any
    name: str
    job_log: Path  # the job's algo-1 log: one "started ... (pid N)" line per attempt
    first: WorkerProcess
    logs: Path
    second: WorkerProcess | None = None

    def start_second(self) -> WorkerProcess:
        """Start the next worker (logging beside the first)."""
        self.second = WorkerProcess(self.node, self.logs / f"{self.name}-w2.log")
        return self.second


@contextlib.contextmanager
def training_under_worker(node: NodeThread, name: str, logs: Path,
                          num_round: int = 100000) -> Iterator[TrainingUnderWorker]:
    """Create :func:`slow_job` ``name``, start a worker (its log ``<logs>/<name>-w1.log``) and wait until attempt 1
    trains in a container; both workers are stopped when the block ends."""
    slow_job(node, name, num_round=num_round)
    run = TrainingUnderWorker(node, node.client("sagemaker"), name, node.settings.jobs_dir / name / "algo-1.log",
                              WorkerProcess(node, logs / f"{name}-w1.log"), logs)
    try:
        wait_for(lambda: training_attempt(run.sm, name, 1) and started(run.job_log, 1), 60,
                 what="attempt 1 training")
        yield run
    finally:
        run.first.stop()
        if run.second:
            run.second.stop()
