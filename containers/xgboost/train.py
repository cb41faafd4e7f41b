"""Training for the built-in XGBoost algorithm.

Reads the ``train`` channel (required) and ``validation`` (optional), trains a
booster for ``num_round`` rounds, printing one evaluation line per round in
XGBoost's own format (``[3]\\ttrain-rmse:0.41\\tvalidation-rmse:0.44``) that
SageMaker metric definitions scrape, and saves the booster as
``<model_dir>/xgboost-model``.
"""

from __future__ import annotations

import dataclasses

import os
import re
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import xgboost as xgb
from xgboost.callback import TrainingCallback

from containers.common.data import Dataset
from containers.common.environment import Environment
from containers.common.errors import CustomerError
from containers.xgboost.checkpointing import SaveCheckpoint, load_checkpoint
from containers.xgboost.collective import communicator
from containers.xgboost.channels import check_labels, load_dataset, split_weights, to_dmatrix
from containers.xgboost.hyperparameters import XGBoostConfig, parse_hyperparameters

MODEL_FILE = "xgboost-model"
TRAIN = "train"
VALIDATION = "validation"
# "[10:44:18] /path/to/split_evaluator.h:48: " in front of native XGBoost errors.
_NATIVE_PREFIX = re.compile(r"^\[[0-9:]+\]\s+\S+:\d+:\s*")


class _RoundCounter(TrainingCallback):
    """Counts the rounds actually trained (fewer than num_round if stopped early)."""

    def __init__(self) -> None:
        super().__init__()
        self.rounds = 0

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        self.rounds = epoch + 1
        return False


def log(message: str) -> None:
    """Print a log line to stdout, flushed, so it streams to the job's logs."""
    print(message, flush=True)


def _log_evaluation(message: str) -> None:
    # XGBoost ends its evaluation line with a newline of its own.
    log(message.rstrip("\n"))


def _xgboost_reason(exc: Exception) -> str:
    """XGBoost's message without its timestamp and C++ source location prefix."""
    lines = str(exc).strip().splitlines()
    return _NATIVE_PREFIX.sub("", lines[0]) if lines else type(exc).__name__


def _widen(ds: Dataset, num_cols: int) -> Dataset:
    """Pad a sparse dataset with empty columns so train and validation agree."""
    if not isinstance(ds.X, sp.csr_matrix) or ds.num_cols >= num_cols:
        return ds
    X = ds.X.copy()
    X.resize((ds.num_rows, num_cols))
    return dataclasses.replace(ds, X=X)


def load_channels(env: Environment, config: XGBoostConfig) -> tuple[xgb.DMatrix, xgb.DMatrix | None]:
    """Read, check and convert the train and (if given) validation channels."""
    train_ds, fmt = load_dataset(env, TRAIN)
    val_ds: Dataset | None = None
    if VALIDATION in env.channels:
        val_ds, _ = load_dataset(env, VALIDATION, num_cols=train_ds.num_cols)
        if isinstance(val_ds.X, np.ndarray) and val_ds.num_cols != train_ds.num_cols:
            raise CustomerError(
                f"Channel '{VALIDATION}' has {val_ds.num_cols} feature columns but '{TRAIN}' has "
                f"{train_ds.num_cols}; both must have the same columns."
            )
        train_ds = _widen(train_ds, val_ds.num_cols)

    objective = config.params["objective"]
    num_class = config.params.get("num_class")
    nthread = config.params["nthread"]
    matrices: list[xgb.DMatrix] = []
    for name, ds in ((TRAIN, train_ds), (VALIDATION, val_ds)):
        if ds is None:
            continue
        weights = None
        if config.csv_weights and fmt == "csv":
            ds, weights = split_weights(ds)
        check_labels(ds, objective, num_class)
        kind = "sparse" if isinstance(ds.X, sp.csr_matrix) else "dense"
        log(
            f"Channel '{name}': {ds.num_rows} rows, {ds.num_cols} feature columns ({kind}) "
            f"from {len(ds.files)} file(s)."
        )
        matrices.append(to_dmatrix(ds, weights, nthread))
    return matrices[0], (matrices[1] if len(matrices) > 1 else None)


def save_model(booster: xgb.Booster, model_dir: Path) -> Path:
    """Save ``booster`` as ``<model_dir>/xgboost-model`` and prove it loads back.

    XGBoost picks the format from the file extension, so the model is written
    as ``.json`` and then renamed; JSON loads in every XGBoost since 1.0.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / f"{MODEL_FILE}.json"
    booster.save_model(str(staging))
    target = model_dir / MODEL_FILE
    os.replace(staging, target)
    with warnings.catch_warnings():
        # Without an extension XGBoost says it is guessing the format; it guesses right.
        warnings.simplefilter("ignore", UserWarning)
        reloaded = xgb.Booster(model_file=str(target))
    if reloaded.num_boosted_rounds() != booster.num_boosted_rounds():
        raise RuntimeError(f"Saved model {target} does not load back with the same number of rounds.")
    return target


def _callbacks(config: XGBoostConfig, has_validation: bool) -> tuple[_RoundCounter, list[TrainingCallback]]:
    """Round counter, per-round evaluation printer and, if asked for, early stopping."""
    counter = _RoundCounter()
    callbacks: list[TrainingCallback] = [counter, xgb.callback.EvaluationMonitor(period=1, logger=_log_evaluation)]
    if config.early_stopping_rounds and not has_validation:
        log("early_stopping_rounds is ignored: it needs a 'validation' channel.")
    elif config.early_stopping_rounds:
        # Stops on the last eval_metric of the validation channel. A tree
        # booster keeps only its best rounds, the model hosting should serve;
        # gblinear cannot be cut back and keeps its last state.
        trees = config.params.get("booster", "gbtree") != "gblinear"
        callbacks.append(
            xgb.callback.EarlyStopping(rounds=config.early_stopping_rounds, data_name=VALIDATION, save_best=trees)
        )
    return counter, callbacks


def train(env: Environment) -> None:
    """Train the XGBoost algorithm for the job described by ``env``."""
    config = parse_hyperparameters(env.hyperparameters, num_cpus=env.num_cpus)
    for note in config.notes:
        log(note)
    log(f"XGBoost {xgb.__version__}; objective '{config.params['objective']}', num_round {config.num_round}.")
    dtrain, dval = load_channels(env, config)

    evals = [(dtrain, TRAIN)] + ([(dval, VALIDATION)] if dval is not None else [])
    counter, callbacks = _callbacks(config, has_validation=dval is not None)
    # Resume from the newest checkpoint (an interrupted spot job) and checkpoint every round.
    resumed, done_rounds = load_checkpoint(env.checkpoint_dir)
    if resumed is not None:
        log(f"Resuming from a checkpoint with {done_rounds} of {config.num_round} rounds.")
    callbacks.append(SaveCheckpoint(env.checkpoint_dir, done_rounds))
    try:
        with communicator(env):  # several hosts: xgboost's collective communication
            booster = xgb.train(
                config.params,
                dtrain,
                num_boost_round=max(0, config.num_round - done_rounds),
                evals=evals,
                verbose_eval=False,  # the EvaluationMonitor from _callbacks prints instead
                callbacks=callbacks,
                xgb_model=resumed,
            )
    except xgb.core.XGBoostError as exc:
        # XGBoost rejects parameter combinations and data it cannot train on;
        # labels and ranges were checked already, so what is left is the user's.
        reason = _xgboost_reason(exc)
        raise CustomerError(f"XGBoost could not train with these hyperparameters and data: {reason}") from exc
    if counter.rounds + done_rounds < config.num_round:
        log(
            f"Stopped early after {counter.rounds} of {config.num_round} rounds; "
            f"best round {booster.best_iteration} (validation score {booster.best_score:.5f})."
        )
    path = save_model(booster, env.model_dir)
    log(f"Saved model with {booster.num_boosted_rounds()} rounds to {path}.")
