"""Training for the built-in PCA algorithm.

Reads ``train`` (required) in ``application/x-recordio-protobuf`` or
``text/csv`` (features only), checks each record has ``feature_dim``
features, fits in ``algorithm_mode`` and writes ``model_algo-1`` (NumPy
``.npz`` with SageMaker's keys ``v``, ``s`` and ``mean``) to the model
directory. SageMaker's PCA publishes no tuning metric; the log reports
the variance the components explain, and a ``test`` channel, when given,
is checked and its reconstruction error logged.
"""

from __future__ import annotations

import json

import numpy as np

from containers.common.builtin_input import read_channel
from containers.common.environment import Environment
from containers.common.errors import CustomerError
from containers.pca import algorithm
from containers.pca.hyperparameters import parse_hyperparameters

MODEL_FILE = "model_algo-1"


def load(env: Environment, name: str, feature_dim: int) -> np.ndarray:
    """Channel ``name`` as dense float32 rows of ``feature_dim`` features."""
    return read_channel(env, name, algorithm="PCA", feature_dim=feature_dim, supervised=False).X


def reconstruction_mse(model: algorithm.PCAModel, X: np.ndarray) -> float:
    """Mean squared error of each row rebuilt from its projection."""
    rebuilt = model.project(X) @ model.v.T.astype(np.float64) + model.mean
    return float(((np.asarray(X, dtype=np.float64) - rebuilt) ** 2).sum(1).mean())


def train(env: Environment) -> None:
    """Fit PCA for the job described by ``env``."""
    cfg = parse_hyperparameters(env.hyperparameters)
    X = load(env, "train", cfg.feature_dim)
    if len(X) < 2:
        raise CustomerError(f"Channel 'train' has {len(X)} record(s); PCA needs at least 2.")
    model = algorithm.fit(X, cfg)
    host = env.current_host
    centered = np.asarray(X, dtype=np.float64) - model.mean
    total = float((centered ** 2).sum())
    explained = float((model.s.astype(np.float64) ** 2).sum()) / total if total > 0 else 1.0
    print(f"#progress_metric: host={host}, completed 100.0 % of epochs", flush=True)
    print(f"PCA ({cfg.algorithm_mode}): {cfg.num_components} components explain {100 * explained:.2f} % of "
          f"the training variance.", flush=True)
    if "test" in env.channels:
        mse = reconstruction_mse(model, load(env, "test", cfg.feature_dim))
        print(f"Channel 'test': reconstruction mean squared error {mse:.6g}.", flush=True)
    env.model_dir.mkdir(parents=True, exist_ok=True)
    with (env.model_dir / MODEL_FILE).open("wb") as f:
        np.savez(f, v=model.v, s=model.s, mean=model.mean)
    (env.model_dir / "hyperparameters.json").write_text(json.dumps(
        {"num_components": cfg.num_components, "feature_dim": cfg.feature_dim,
         "algorithm_mode": cfg.algorithm_mode, "subtract_mean": cfg.subtract_mean}))
    print(f"Saved {cfg.num_components} components of dimension {cfg.feature_dim} to {env.model_dir / MODEL_FILE}.",
          flush=True)
