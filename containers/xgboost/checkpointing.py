"""Checkpoints for the built-in XGBoost: resume boosting where an interrupted run stopped.

As SageMaker's XGBoost does, the booster is saved after every round as
``<checkpoint dir>/xgboost-checkpoint.<round index>`` (the last few kept);
a run that finds checkpoints loads the newest and boosts only the rounds
still missing, so an interrupted and resumed job ends with the same number
of rounds as one that ran straight through.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import xgboost as xgb
from xgboost.callback import TrainingCallback

PREFIX = "xgboost-checkpoint."
KEEP = 5
_NAME = re.compile(rf"^{re.escape(PREFIX)}(\d+)$")


def _checkpoints(directory: Path) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def load_checkpoint(directory: Path) -> tuple[xgb.Booster | None, int]:
    """The newest loadable checkpoint and the rounds it holds; ``(None, 0)`` when there is none."""
    for _, path in reversed(_checkpoints(directory)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # no extension: XGBoost guesses JSON, rightly
                booster = xgb.Booster(model_file=str(path))
        except xgb.core.XGBoostError:
            continue  # a torn file from the moment of interruption: try the one before
        return booster, booster.num_boosted_rounds()
    return None, 0


class SaveCheckpoint(TrainingCallback):
    """Saves the booster after every round (atomically) and prunes old checkpoints."""

    def __init__(self, directory: Path, rounds_before: int = 0) -> None:
        super().__init__()
        self.directory = directory
        self.rounds_before = rounds_before

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        index = self.rounds_before + epoch
        staging = self.directory / f".tmp-{PREFIX}{index}.json"
        model.save_model(str(staging))
        os.replace(staging, self.directory / f"{PREFIX}{index}")
        for _, old in _checkpoints(self.directory)[:-KEEP]:
            old.unlink(missing_ok=True)
        return False
