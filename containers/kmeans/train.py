"""Training for the built-in K-Means algorithm.

Reads ``train`` (required) and ``test`` (optional) in
``application/x-recordio-protobuf`` or ``text/csv`` (features only, as
SageMaker's ``label_size=0``), checks each record has ``feature_dim``
features, fits, prints SageMaker's metric lines
(``#quality_metric: host=algo-1, test msd <loss>=...``) and writes
``model_algo-1`` (the centers, NumPy ``.npy`` format) to the model directory.
"""

from __future__ import annotations

import json

import numpy as np

from containers.common.builtin_input import read_channel
from containers.common.environment import Environment
from containers.common.errors import CustomerError
from containers.kmeans import algorithm
from containers.kmeans.hyperparameters import parse_hyperparameters

MODEL_FILE = "model_algo-1"


def load(env: Environment, name: str, feature_dim: int) -> np.ndarray:
    """Channel ``name`` as dense float32 rows of ``feature_dim`` features."""
    return read_channel(env, name, algorithm="K-Means", feature_dim=feature_dim, supervised=False).X


def train(env: Environment) -> None:
    """Fit K-Means for the job described by ``env``."""
    cfg = parse_hyperparameters(env.hyperparameters)
    X = load(env, "train", cfg.feature_dim)
    if len(X) < cfg.k:
        raise CustomerError(f"Channel 'train' has {len(X)} records, fewer than k={cfg.k}.")
    host = env.current_host

    def progress(epoch: int) -> None:
        print(f"#progress_metric: host={host}, completed {100.0 * epoch / cfg.epochs:.1f} % of epochs", flush=True)

    centers = algorithm.fit(X, cfg, on_epoch=progress)
    for name, data in (("train", X), *((("test", load(env, "test", cfg.feature_dim)),) if "test" in env.channels
                                        else ())):
        _, dist = algorithm.assign(data, centers)
        ssd = float((dist.astype(np.float64) ** 2).sum())
        for metric in cfg.eval_metrics:
            value = ssd / len(data) if metric == "msd" else ssd
            print(f"#quality_metric: host={host}, {name} {metric} <loss>={value:.6g}", flush=True)
    env.model_dir.mkdir(parents=True, exist_ok=True)
    with (env.model_dir / MODEL_FILE).open("wb") as f:
        np.save(f, centers)
    (env.model_dir / "hyperparameters.json").write_text(json.dumps({"k": cfg.k, "feature_dim": cfg.feature_dim}))
    print(f"Saved {cfg.k} centers of dimension {cfg.feature_dim} to {env.model_dir / MODEL_FILE}.", flush=True)
