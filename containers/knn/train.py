"""Training for the built-in k-NN algorithm.

Reads ``train`` (required, labeled) and ``test`` (optional, labeled) in
``application/x-recordio-protobuf`` or ``text/csv`` (label first), checks
each record has ``feature_dim`` features, builds the index and, with a
``test`` channel, prints SageMaker's metric line (``#quality_metric:
host=algo-1, test accuracy <score>=0.93`` for a classifier, ``test mse
<loss>=...`` for a regressor). Writes ``model_algo-1`` (NumPy ``.npz``:
samples, labels, projection, settings) to the model directory.
"""

from __future__ import annotations

import json

import numpy as np

from containers.common.builtin_input import read_channel
from containers.common.data import Dataset
from containers.common.environment import Environment
from containers.knn import algorithm
from containers.knn.hyperparameters import parse_hyperparameters

MODEL_FILE = "model_algo-1"


def load(env: Environment, name: str, feature_dim: int) -> Dataset:
    """Channel ``name`` as dense float32 rows of ``feature_dim`` features, each with a label."""
    return read_channel(env, name, algorithm="k-NN", feature_dim=feature_dim, supervised=True)


def save(index: algorithm.KNNIndex, path: str) -> None:
    """Write ``index`` as ``.npz`` to ``path``."""
    projection = index.projection if index.projection is not None else np.zeros((0, 0), dtype=np.float32)
    with open(path, "wb") as f:
        np.savez(f, samples=index.samples, labels=index.labels, projection=projection,
                 settings=np.array(json.dumps({"k": index.k, "predictor_type": index.predictor_type,
                                               "index_metric": index.index_metric})))


def load_index(path: str) -> algorithm.KNNIndex:
    """Read what :func:`save` wrote."""
    with np.load(path) as saved:
        settings = json.loads(str(saved["settings"]))
        projection = saved["projection"]
        return algorithm.KNNIndex(samples=saved["samples"], labels=saved["labels"],
                                  projection=projection if projection.size else None, **settings)


def train(env: Environment) -> None:
    """Build the k-NN index for the job described by ``env``."""
    cfg = parse_hyperparameters(env.hyperparameters)
    data = load(env, "train", cfg.feature_dim)
    index = algorithm.fit(data.X, data.y, cfg)
    print(f"Index: {len(index.samples)} of {data.num_rows} records sampled, dimension {index.samples.shape[1]}, "
          f"{cfg.index_type} searched exactly with {cfg.index_metric}.", flush=True)
    print(f"#progress_metric: host={env.current_host}, completed 100.0 % of epochs", flush=True)
    if "test" in env.channels:
        test = load(env, "test", cfg.feature_dim)
        predicted, _, _ = algorithm.predict(index, test.X)
        if cfg.predictor_type == "classifier":
            accuracy = float((predicted == test.y).mean())
            print(f"#quality_metric: host={env.current_host}, test accuracy <score>={accuracy:.6g}", flush=True)
        else:
            mse = float(((predicted - test.y.astype(np.float64)) ** 2).mean())
            print(f"#quality_metric: host={env.current_host}, test mse <loss>={mse:.6g}", flush=True)
    env.model_dir.mkdir(parents=True, exist_ok=True)
    save(index, str(env.model_dir / MODEL_FILE))
    print(f"Saved the index to {env.model_dir / MODEL_FILE}.", flush=True)
