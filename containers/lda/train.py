"""Training for the built-in LDA algorithm.

Reads ``train`` (required) and ``test`` (optional): word counts per
document, ``application/x-recordio-protobuf`` (sparse or dense records) or
``text/csv`` (one document per row, a column per vocabulary word, no
label). Every record must have ``feature_dim`` columns and finite,
non-negative counts. With a ``test`` channel it prints SageMaker's metric
line (``#quality_metric: host=algo-1, test pwll <score>=-7.2``, the
per-word log-likelihood). Writes ``model_algo-1`` (NumPy ``.npz``:
``alpha``, ``beta`` and the variational ``lambda``) to the model directory.
"""

from __future__ import annotations

import json

import numpy as np
import scipy.sparse as sp

from containers.common.builtin_input import read_channel
from containers.common.environment import Environment
from containers.common.errors import CustomerError
from containers.lda import algorithm
from containers.lda.hyperparameters import parse_hyperparameters

MODEL_FILE = "model_algo-1"


def load(env: Environment, name: str, feature_dim: int) -> sp.csr_matrix:
    """Channel ``name`` as a sparse documents x vocabulary count matrix."""
    ds = read_channel(env, name, algorithm="LDA", feature_dim=feature_dim, supervised=False, allow_sparse=True)
    X = sp.csr_matrix(ds.X, dtype=np.float64)
    bad = ~np.isfinite(X.data) | (X.data < 0)
    if bad.any():
        row = int(np.searchsorted(X.indptr, np.flatnonzero(bad)[0], side="right") - 1)
        raise CustomerError(f"Bad input in {ds.locate(row)}: word counts must be finite and non-negative.")
    return X


def save(model: algorithm.LDAModel, path: str) -> None:
    """Write ``model`` as ``.npz`` to ``path``."""
    with open(path, "wb") as f:
        np.savez(f, alpha=model.alpha, beta=model.beta, **{"lambda": model.lam})


def load_model(path: str) -> algorithm.LDAModel:
    """Read what :func:`save` wrote."""
    with np.load(path) as saved:
        return algorithm.LDAModel(lam=saved["lambda"], alpha=saved["alpha"])


def train(env: Environment) -> None:
    """Fit the topic model for the job described by ``env``."""
    cfg = parse_hyperparameters(env.hyperparameters)
    X = load(env, "train", cfg.feature_dim)
    if X.sum() == 0:
        raise CustomerError("Channel 'train' has no words: every document's counts are zero.")
    host = env.current_host

    def progress(iteration: int, pwll: float) -> None:
        if iteration % 10 == 0:
            print(f"#progress_metric: host={host}, iteration {iteration}, train pwll {pwll:.6g}", flush=True)

    model = algorithm.fit(X, cfg, on_iteration=progress)
    if "test" in env.channels:
        test = load(env, "test", cfg.feature_dim)
        gamma, _ = algorithm.e_step(test, model, block=cfg.mini_batch_size)
        pwll = algorithm.per_word_log_likelihood(test, model, gamma)
        print(f"#quality_metric: host={host}, test pwll <score>={pwll:.6g}", flush=True)
    env.model_dir.mkdir(parents=True, exist_ok=True)
    save(model, str(env.model_dir / MODEL_FILE))
    (env.model_dir / "hyperparameters.json").write_text(json.dumps(
        {"num_topics": cfg.num_topics, "feature_dim": cfg.feature_dim, "alpha0": cfg.alpha0}))
    print(f"Saved {cfg.num_topics} topics over {cfg.feature_dim} words to {env.model_dir / MODEL_FILE}.", flush=True)
