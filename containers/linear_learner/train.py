"""Training for the built-in Linear Learner.

Reads ``train`` (required), ``validation`` and ``test`` (optional) in
``application/x-recordio-protobuf`` (dense or sparse) or ``text/csv``
(label first), checks labels against ``predictor_type``, trains
``num_models`` models, keeps the best on validation (train when absent),
prints SageMaker's metric lines and writes ``model_algo-1`` to the model
directory. Per epoch::

    #quality_metric: host=algo-1, epoch=3, train objective_loss <loss>=0.31
    #quality_metric: host=algo-1, epoch=3, validation objective_loss <loss>=0.33

and for the chosen model, per validation/test channel::

    #quality_metric: host=algo-1, test binary_classification_accuracy <score>=0.97
"""

from __future__ import annotations

import json

import numpy as np

from containers.common.builtin_input import read_channel
from containers.common.data import Dataset
from containers.common.environment import Environment
from containers.common.errors import CustomerError
from containers.linear_learner.hyperparameters import LinearLearnerConfig, parse_hyperparameters

LOSS_METRICS = {"objective_loss", "mse", "rmse", "absolute_loss"}


def check_labels(ds: Dataset, cfg: LinearLearnerConfig) -> None:
    """Classification labels must be class indices; name the first record that is not."""
    if cfg.predictor_type == "regressor":
        return
    classes = cfg.num_classes
    bad = np.flatnonzero((ds.y != np.round(ds.y)) | (ds.y < 0) | (ds.y >= classes))
    if len(bad):
        allowed = "0 or 1" if classes == 2 else f"an integer from 0 to {classes - 1} (num_classes is {classes})"
        raise CustomerError(f"Bad input in {ds.locate(int(bad[0]))}: the label {float(ds.y[bad[0]])!r} is not "
                            f"{allowed}, as predictor_type '{cfg.predictor_type}' requires.")


def load(env: Environment, name: str, cfg: LinearLearnerConfig) -> Dataset:
    """Channel ``name``: features (dense, or CSR for sparse records) and checked labels."""
    ds = read_channel(env, name, algorithm="Linear Learner", feature_dim=cfg.feature_dim, supervised=True,
                      allow_sparse=True)
    check_labels(ds, cfg)
    return ds


def print_metrics(host: str, channel: str, metrics: dict[str, float]) -> None:
    """SageMaker's final metric lines for one channel."""
    for metric, value in metrics.items():
        tag = "loss" if metric in LOSS_METRICS else "score"
        print(f"#quality_metric: host={host}, {channel} {metric} <{tag}>={value:.6g}", flush=True)


def train(env: Environment) -> None:
    """Train Linear Learner for the job described by ``env``."""
    cfg = parse_hyperparameters(env.hyperparameters)
    host = env.current_host
    data = load(env, "train", cfg)
    extra = {name: load(env, name, cfg) for name in ("validation", "test") if name in env.channels}
    chooser = extra.get("validation", data)
    # torch is imported only now: bad hyperparameters or data fail the job without paying for it.
    from containers.linear_learner import algorithm, selection

    print(f"Training {cfg.num_models} {cfg.predictor_type} model(s) with loss={cfg.loss}, "
          f"optimizer={cfg.optimizer} on {data.num_rows} records.", flush=True)

    def report(epoch: int, train_loss: float, eval_loss: float) -> None:
        print(f"#quality_metric: host={host}, epoch={epoch}, train objective_loss <loss>={train_loss:.6g}",
              flush=True)
        if "validation" in extra:
            print(f"#quality_metric: host={host}, epoch={epoch}, validation objective_loss <loss>={eval_loss:.6g}",
                  flush=True)
        print(f"#early_stopping_criteria_metric: host={host}, epoch={epoch}, criteria=objective_loss, "
              f"value={eval_loss:.6g}", flush=True)
        print(f"#progress_metric: host={host}, completed {100.0 * epoch / cfg.epochs:.1f} % of epochs", flush=True)

    models = algorithm.fit(data.X, data.y, cfg, X_eval=chooser.X if "validation" in extra else None,
                           y_eval=chooser.y if "validation" in extra else None, on_epoch=report)
    model, best, value = selection.select(models, chooser.X, chooser.y, cfg, np.random.default_rng(1))
    criterion = (cfg.binary_classifier_model_selection_criteria if cfg.predictor_type == "binary_classifier"
                 else "objective_loss")
    print(f"Ran {models.epochs_run} epoch(s). Chose model {best} ({models.settings.describe(best)}) on "
          f"{'validation' if 'validation' in extra else 'train'}: {criterion}={value:.6g}, "
          f"threshold={model.threshold:.6g}.", flush=True)
    for name, ds in extra.items():
        print_metrics(host, name, selection.channel_metrics(model, ds.X, ds.y, cfg))
    path = model.save(env.model_dir)
    (env.model_dir / "hyperparameters.json").write_text(json.dumps(
        {"predictor_type": cfg.predictor_type, "feature_dim": cfg.feature_dim, "loss": cfg.loss}))
    print(f"Saved the model to {path}.", flush=True)
