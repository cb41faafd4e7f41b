"""Workers die; jobs do not stay InProgress forever.

A real ``headwater worker`` subprocess is killed (SIGKILL, with the
training process it started) while a job trains. The task comes back after
its visibility timeout: the next worker restarts the job, and once
``task_max_attempts`` are spent the job fails with a clear reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import NodeThread, free_port_settings, wait_for, wait_for_job
from tests.worker_processes import (
    WorkerProcess,
    alive,
    container_pids,
    slow_job,
    started,
    training_attempt,
    training_under_worker,
)

ATTEMPTS = 2


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A node without a worker of its own: the tests bring their workers."""
    settings = free_port_settings(tmp_path_factory.mktemp("resilience"), task_max_attempts=ATTEMPTS)
    n = NodeThread(settings, with_worker=False).start()
    yield n
    n.stop()


def test_a_killed_worker_s_job_is_restarted_by_the_next_worker(node: NodeThread, tmp_path: Path) -> None:
    with training_under_worker(node, "resume-after-kill", tmp_path) as run:
        run.first.kill_with_its_container(run.job_log, 1)
        run.start_second()
        wait_for(lambda: training_attempt(run.sm, run.name, 2), 60, what="attempt 2 training")
        d = run.sm.describe_training_job(TrainingJobName=run.name)
        restarts = [t for t in d["SecondaryStatusTransitions"] if t["Status"] == "Restarting"]
        assert len(restarts) == 1 and "attempt 2" in restarts[0]["StatusMessage"]
        assert d["TrainingJobStatus"] == "InProgress"
        _stop(run.sm, run.name)


def test_a_job_whose_workers_keep_dying_fails_with_the_reason(node: NodeThread, tmp_path: Path) -> None:
    sm, name = node.client("sagemaker"), "dies-every-time"
    slow_job(node, name)
    job_log = node.settings.jobs_dir / name / "algo-1.log"
    workers: list[WorkerProcess] = []
    try:
        for attempt in range(1, ATTEMPTS + 1):
            workers.append(WorkerProcess(node, tmp_path / f"w{attempt}.log"))
            wait_for(lambda: training_attempt(sm, name, attempt) and started(job_log, attempt), 60,
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
    with training_under_worker(node, "taken-over", tmp_path) as run:
        run.first.pause()
        run.start_second()
        wait_for(lambda: training_attempt(run.sm, run.name, 2) and started(run.job_log, 2), 60,
                 what="attempt 2 training")
        stale_pid, live_pid = container_pids(run.job_log)[:2]
        run.first.resume()
        wait_for(lambda: not alive(stale_pid), 30, what="the stalled worker to stop its attempt's container")
        assert alive(live_pid)
        wait_for(lambda: "no longer holds" in run.first.log.read_text(), 30,
                 what="the stalled worker to say why it stopped")
        d = run.sm.describe_training_job(TrainingJobName=run.name)
        assert d["TrainingJobStatus"] == "InProgress"
        assert sum(t["Status"] == "Training" for t in d["SecondaryStatusTransitions"]) == 2
        _stop(run.sm, run.name)


def test_ctrl_c_hands_the_running_job_back_to_the_next_worker(node: NodeThread, tmp_path: Path) -> None:
    # Ctrl-C stops the worker without waiting for its job (minutes here): its container stops, the claim is
    # released and the task goes back to the queue, so the next worker resumes the job at once.
    with training_under_worker(node, "handed-back", tmp_path) as run:
        container = container_pids(run.job_log)[0]
        run.first.interrupt()
        assert run.first.proc.wait(60) == 0, run.first.log.read_text()
        assert not alive(container)
        assert "handed back" in run.first.log.read_text()
        run.start_second()
        wait_for(lambda: training_attempt(run.sm, run.name, 2), 60, what="attempt 2 training")
        d = run.sm.describe_training_job(TrainingJobName=run.name)
        restarts = [t for t in d["SecondaryStatusTransitions"] if t["Status"] == "Restarting"]
        assert len(restarts) == 1 and "handed it back" in restarts[0]["StatusMessage"], restarts
        _stop(run.sm, run.name)


def _stop(sm: Any, name: str) -> None:
    """StopTrainingJob, and the job ends ``Stopped``."""
    sm.stop_training_job(TrainingJobName=name)
    final = wait_for_job(sm, name, timeout=60)
    assert (final["TrainingJobStatus"], final["SecondaryStatus"]) == ("Stopped", "Stopped")
