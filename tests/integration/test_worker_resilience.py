"""Workers die; jobs do not stay InProgress forever.

A real ``headwater worker`` subprocess is killed (SIGKILL, with the
training process it started) while a job trains. The task comes back after
its visibility timeout: the next worker restarts the job, and once
``task_max_attempts`` are spent the job fails with a clear reason.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infra.demo.datasets import to_csv
from tests.support import NodeThread, free_port_settings, wait_for, wait_for_job

ATTEMPTS = 2


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A node without a worker of its own: the tests bring their workers."""
    settings = free_port_settings(tmp_path_factory.mktemp("resilience"), task_max_attempts=ATTEMPTS)
    n = NodeThread(settings, with_worker=False).start()
    yield n
    n.stop()


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
        pids = _container_pids(job_log)
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


def _slow_job(node: NodeThread, name: str) -> None:
    """A job that trains for minutes unless stopped."""
    s3, sm = node.client("s3"), node.client("sagemaker")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4000, 8))
    y = (X[:, 0] + rng.normal(size=4000) > 0).astype(int)
    s3.put_object(Bucket="headwater-data", Key=f"slow/{name}/train.csv", Body=to_csv(X, y))
    sm.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/r",
        AlgorithmSpecification={"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
        HyperParameters={"num_round": "100000", "max_depth": "8", "objective": "binary:logistic"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://headwater-data/slow/{name}/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/slow"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600})


def _started(job_log: Path, attempt: int) -> bool:
    """The attempt's container has been launched (its pid is logged)."""
    return job_log.exists() and len(_container_pids(job_log)) >= attempt


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has ended


def _container_pids(job_log: Path) -> list[int]:
    return [int(p) for p in re.findall(r"Headwater: started \S+ \(pid (\d+)\)", job_log.read_text())]


def _training_attempt(sm: Any, name: str, attempt: int) -> bool:
    d = sm.describe_training_job(TrainingJobName=name)
    return sum(t["Status"] == "Training" for t in d["SecondaryStatusTransitions"]) >= attempt


def test_a_killed_worker_s_job_is_restarted_by_the_next_worker(node: NodeThread, tmp_path: Path) -> None:
    sm, name = node.client("sagemaker"), "resume-after-kill"
    _slow_job(node, name)
    job_log = node.settings.jobs_dir / name / "algo-1.log"
    first = WorkerProcess(node, tmp_path / "w1.log")
    second: WorkerProcess | None = None
    try:
        wait_for(lambda: _training_attempt(sm, name, 1) and _started(job_log, 1), 60, what="attempt 1 training")
        first.kill_with_its_container(job_log, 1)
        second = WorkerProcess(node, tmp_path / "w2.log")
        wait_for(lambda: _training_attempt(sm, name, 2), 60, what="attempt 2 training")
        d = sm.describe_training_job(TrainingJobName=name)
        restarts = [t for t in d["SecondaryStatusTransitions"] if t["Status"] == "Restarting"]
        assert len(restarts) == 1 and "attempt 2" in restarts[0]["StatusMessage"]
        assert d["TrainingJobStatus"] == "InProgress"
        sm.stop_training_job(TrainingJobName=name)
        final = wait_for_job(sm, name, timeout=60)
        assert (final["TrainingJobStatus"], final["SecondaryStatus"]) == ("Stopped", "Stopped")
    finally:
        first.stop()
        if second:
            second.stop()


def test_a_job_whose_workers_keep_dying_fails_with_the_reason(node: NodeThread, tmp_path: Path) -> None:
    sm, name = node.client("sagemaker"), "dies-every-time"
    _slow_job(node, name)
    job_log = node.settings.jobs_dir / name / "algo-1.log"
    workers: list[WorkerProcess] = []
    try:
        for attempt in range(1, ATTEMPTS + 1):
            workers.append(WorkerProcess(node, tmp_path / f"w{attempt}.log"))
            wait_for(lambda: _training_attempt(sm, name, attempt) and _started(job_log, attempt), 60,
                     what=f"attempt {attempt} training")
            workers[-1].kill_with_its_container(job_log, attempt)
        workers.append(WorkerProcess(node, tmp_path / "last.log"))
        final = wait_for_job(sm, name, timeout=60)
        assert final["TrainingJobStatus"] == "Failed"
        assert "worker was lost" in final["FailureReason"] and f"after {ATTEMPTS} attempts" in final["FailureReason"], final["FailureReason"]
    finally:
        for w in workers:
            w.stop()


def test_a_stalled_worker_that_lost_its_job_stops_running_it(node: NodeThread, tmp_path: Path) -> None:
    # A worker stalls past its heartbeat; the next worker takes the job over. When the first one wakes, its
    # heartbeat finds the job held by the other: it stops its attempt (container included) and writes nothing.
    sm, name = node.client("sagemaker"), "taken-over"
    _slow_job(node, name)
    job_log = node.settings.jobs_dir / name / "algo-1.log"
    first = WorkerProcess(node, tmp_path / "w1.log")
    second: WorkerProcess | None = None
    try:
        wait_for(lambda: _training_attempt(sm, name, 1) and _started(job_log, 1), 60, what="attempt 1 training")
        first.pause()
        second = WorkerProcess(node, tmp_path / "w2.log")
        wait_for(lambda: _training_attempt(sm, name, 2) and _started(job_log, 2), 60, what="attempt 2 training")
        stale_pid, live_pid = _container_pids(job_log)[:2]
        first.resume()
        wait_for(lambda: not _alive(stale_pid), 30, what="the stalled worker to stop its attempt's container")
        assert _alive(live_pid)
        wait_for(lambda: "no longer holds" in (tmp_path / "w1.log").read_text(), 30,
                 what="the stalled worker to say why it stopped")
        d = sm.describe_training_job(TrainingJobName=name)
        assert d["TrainingJobStatus"] == "InProgress"
        assert sum(t["Status"] == "Training" for t in d["SecondaryStatusTransitions"]) == 2
        sm.stop_training_job(TrainingJobName=name)
        final = wait_for_job(sm, name, timeout=60)
        assert (final["TrainingJobStatus"], final["SecondaryStatus"]) == ("Stopped", "Stopped")
    finally:
        first.stop()
        if second:
            second.stop()


def test_ctrl_c_hands_the_running_job_back_to_the_next_worker(node: NodeThread, tmp_path: Path) -> None:
    # Ctrl-C stops the worker without waiting for its job (minutes here): its container stops, the claim is
    # released and the task goes back to the queue, so the next worker resumes the job at once.
    sm, name = node.client("sagemaker"), "handed-back"
    _slow_job(node, name)
    job_log = node.settings.jobs_dir / name / "algo-1.log"
    first = WorkerProcess(node, tmp_path / "w1.log")
    second: WorkerProcess | None = None
    try:
        wait_for(lambda: _training_attempt(sm, name, 1) and _started(job_log, 1), 60, what="attempt 1 training")
        container = _container_pids(job_log)[0]
        first.interrupt()
        assert first.proc.wait(60) == 0, (tmp_path / "w1.log").read_text()
        assert not _alive(container)
        assert "handed back" in (tmp_path / "w1.log").read_text()
        second = WorkerProcess(node, tmp_path / "w2.log")
        wait_for(lambda: _training_attempt(sm, name, 2), 60, what="attempt 2 training")
        d = sm.describe_training_job(TrainingJobName=name)
        restarts = [t for t in d["SecondaryStatusTransitions"] if t["Status"] == "Restarting"]
        assert len(restarts) == 1 and "handed it back" in restarts[0]["StatusMessage"], restarts
        sm.stop_training_job(TrainingJobName=name)
        final = wait_for_job(sm, name, timeout=60)
        assert (final["TrainingJobStatus"], final["SecondaryStatus"]) == ("Stopped", "Stopped")
    finally:
        first.stop()
        if second:
            second.stop()
