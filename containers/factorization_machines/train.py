"""Training for the built-in Factorization Machines.

Reads ``train`` (required) and ``test`` (optional) in
``application/x-recordio-protobuf`` only, as SageMaker's Factorization
Machines does (dense or sparse records, sparse kept sparse), checks labels
(0 or 1 for ``binary_classifier``), trains, prints SageMaker's metric lines
and writes ``model_algo-1`` to the model directory::

    #quality_metric: host=algo-1, epoch=2, train rmse <loss>=0.84
    #quality_metric: host=algo-1, test rmse <loss>=0.91
    #quality_metric: host=algo-1, test binary_classification_accuracy <score>=0.93
"""

from __future__ import annotations

import json

import numpy as np

from containers.common.builtin_input import RECORDIO, channel_media_type, read_channel
from containers.common.data import Dataset
from containers.common.environment import Environment
from containers.common.errors import CustomerError
from containers.factorization_machines.hyperparameters import FactorizationMachinesConfig, parse_hyperparameters
from containers.factorization_machines.model import THRESHOLD, FactorizationMachine


def load(env: Environment, name: str, cfg: FactorizationMachinesConfig) -> Dataset:
    """Channel ``name`` (RecordIO-protobuf only), with labels checked against ``predictor_type``."""
    media = channel_media_type(env, name)
    if media != RECORDIO:
        raise CustomerError(f"Channel '{name}' has content type '{env.require_channel(name).content_type}', which "
                            f"Factorization Machines does not support for training (supported: {RECORDIO}).")
    ds = read_channel(env, name, algorithm="Factorization Machines", feature_dim=cfg.feature_dim,
                      supervised=True, allow_sparse=True)
    if cfg.predictor_type == "binary_classifier":
        bad = np.flatnonzero((ds.y != 0) & (ds.y != 1))
        if len(bad):
            raise CustomerError(f"Bad input in {ds.locate(int(bad[0]))}: the label {float(ds.y[bad[0]])!r} is not "
                                "0 or 1, as predictor_type 'binary_classifier' requires.")
    return ds


def test_metrics(model: FactorizationMachine, ds: Dataset) -> dict[str, tuple[str, float]]:
    """SageMaker's Factorization Machines test metrics: name -> (tag, value)."""
    scores = model.scores(ds.X)
    y = ds.y.astype(np.float64)
    if model.predictor_type == "regressor":
        return {"rmse": ("loss", float(np.sqrt(((scores - y) ** 2).mean())))}
    p = np.clip(scores, 1e-12, 1 - 1e-12)
    predicted = scores >= THRESHOLD
    truth = y > 0.5
    tp = float((predicted & truth).sum())
    precision = tp / predicted.sum() if predicted.sum() else 0.0
    recall = tp / truth.sum() if truth.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"binary_classification_accuracy": ("score", float((predicted == truth).mean())),
            "binary_classification_cross_entropy": ("loss", float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())),
            "binary_f_beta": ("score", f1)}


def train(env: Environment) -> None:
    """Train Factorization Machines for the job described by ``env``."""
    cfg = parse_hyperparameters(env.hyperparameters)
    host = env.current_host
    data = load(env, "train", cfg)
    test = load(env, "test", cfg) if "test" in env.channels else None
    # torch is imported only now: bad hyperparameters or data fail the job without paying for it.
    from containers.factorization_machines import algorithm


    def report(epoch: int, loss: float, accuracy: float | None) -> None:
        if accuracy is None:
            print(f"#quality_metric: host={host}, epoch={epoch}, train rmse <loss>={np.sqrt(loss):.6g}", flush=True)
        else:
            print(f"#quality_metric: host={host}, epoch={epoch}, train binary_classification_cross_entropy "
                  f"<loss>={loss:.6g}", flush=True)
            print(f"#quality_metric: host={host}, epoch={epoch}, train binary_classification_accuracy "
                  f"<score>={accuracy:.6g}", flush=True)
        print(f"#progress_metric: host={host}, completed {100.0 * epoch / cfg.epochs:.1f} % of epochs", flush=True)

    model = algorithm.fit(data.X, data.y, cfg, on_epoch=report)
    if test is not None:
        for metric, (tag, value) in test_metrics(model, test).items():
            print(f"#quality_metric: host={host}, test {metric} <{tag}>={value:.6g}", flush=True)
    path = model.save(env.model_dir)
    (env.model_dir / "hyperparameters.json").write_text(json.dumps(
        {"predictor_type": cfg.predictor_type, "feature_dim": cfg.feature_dim, "num_factors": cfg.num_factors}))
    print(f"Saved the model to {path}.", flush=True)
