"""Workers hurt mid-training: SIGKILLed with their container, SIGSTOPped past their heartbeat and then
resumed, or interrupted with Ctrl-C (the job handed back to a waiting
worker). The job completes exactly once, and its model is uploaded once."""

from __future__ import annotations

from pathlib import Path

from tests.faults.scenarios import interrupted_worker, killed_worker, stalled_worker
from tests.support import NodeThread


def test_a_job_whose_worker_is_killed_completes_once(bare_node: NodeThread, tmp_path: Path) -> None:
    out = killed_worker(bare_node, 0, tmp_path)
    assert (out.once, out.duplicated, out.lost, out.stuck) == (1, 0, 0, 0), out.notes


def test_a_job_whose_worker_stalls_and_resumes_completes_once(bare_node: NodeThread, tmp_path: Path) -> None:
    out = stalled_worker(bare_node, 0, tmp_path)
    assert (out.once, out.duplicated, out.lost, out.stuck) == (1, 0, 0, 0), out.notes


def test_a_job_whose_worker_gets_ctrl_c_is_handed_back_and_completes_once(bare_node: NodeThread,
                                                                           tmp_path: Path) -> None:
    out = interrupted_worker(bare_node, 0, tmp_path)
    assert (out.once, out.duplicated, out.lost, out.stuck) == (1, 0, 0, 0), out.notes
    assert not out.notes, out.notes  # the worker exited 0 saying it handed the job back
