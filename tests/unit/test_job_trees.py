"""A restarted attempt's host tree, while the attempt it replaces may still write into the old one."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from services.execution.job_trees import clear_job_trees, clear_tree
from services.training.hosts import prepare_host
from tests.unit.test_training_env import job


def _stale_writer(monkeypatch: pytest.MonkeyPatch, target: Path) -> int:
    """The taken-over attempt's container: it writes a file into ``target`` while the old tree is being removed.

    It holds the directory open, as a container's ``/opt/ml`` mount does, so it writes where the old tree is."""
    unlink = os.unlink
    held = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    wrote: list[bool] = []

    def unlink_while_written(path: Any, *args: Any, **kwargs: Any) -> None:
        if not wrote:
            wrote.append(True)
            os.close(os.open("xgboost-model.stale", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=held))
        unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink_while_written)
    return held


def test_a_restarted_attempt_gets_a_clean_tree_while_the_old_attempt_still_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    training = job().model_copy(update={"input_data_config": None, "hyper_parameters": {"num_round": "1"}})
    root = tmp_path / "algo-1"
    (root / "model").mkdir(parents=True)
    (root / "model" / "xgboost-model").write_text("attempt 1")
    held = _stale_writer(monkeypatch, root / "model")
    try:
        asyncio.run(prepare_host(None, training, root, "algo-1", ["algo-1"]))  # type: ignore[arg-type] - no S3 used
    finally:
        os.close(held)

    assert (root / "input/config/hyperparameters.json").exists()
    assert list((root / "model").iterdir()) == []  # nothing of the old attempt's, whatever it wrote meanwhile


def test_a_tree_left_over_by_an_earlier_clear_goes_with_the_next(tmp_path: Path) -> None:
    root = tmp_path / "algo-1"
    leftover = tmp_path / ".algo-1.discarded-0123abcd"
    (leftover / "model").mkdir(parents=True)
    (root / "output").mkdir(parents=True)
    clear_tree(root)
    assert list(tmp_path.iterdir()) == []


def test_an_ended_jobs_trees_go_and_its_logs_stay(tmp_path: Path) -> None:
    for host in ("algo-1", "algo-2"):
        (tmp_path / host / "model").mkdir(parents=True)
        (tmp_path / host / "model" / "weights").write_text("w")
        (tmp_path / f"{host}.log").write_text(f"{host} ran")
    (tmp_path / ".algo-1.discarded-0a1b2c3d").mkdir()  # an earlier attempt's tree, set aside and not yet gone
    (tmp_path / ".opt-algo-1").mkdir()  # the process runner's mount stage
    (tmp_path / "model.tar.gz").write_bytes(b"packed")
    clear_job_trees(tmp_path, ["algo-1", "algo-2"], ["model.tar.gz", "output.tar.gz"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["algo-1.log", "algo-2.log"]
