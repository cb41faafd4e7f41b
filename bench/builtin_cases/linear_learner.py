"""Linear Learner beside one torch logistic regression and scikit-learn's LogisticRegression.

20,000 x 20 dense rows on mixed scales, binary labels from a noisy linear
rule. Ours trains ``num_models=8`` models at once (normalization, per-model
learning rate / regularization, threshold and model selection on a
validation split); the torch baseline is one ``nn.Linear`` trained with
``torch.optim.Adam`` on pre-standardized data for the same epochs and
mini-batch. Inference: one 1,000-row CSV request through the serve hooks
(decode -> score -> JSON) beside the baseline's forward pass.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from bench.builtin_cases import Case
from containers.common.decoders import CSV, JSON
from containers.linear_learner import algorithm, selection, serve
from containers.linear_learner.hyperparameters import parse_hyperparameters

D, EPOCHS, BATCH = 20, 10, 200


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scales = np.geomspace(0.1, 50, D)
    X = (rng.normal(size=(n, D)) * scales + 3).astype(np.float32)
    w = np.random.default_rng(99).normal(size=D)
    return X, (((X - 3) / scales) @ w + rng.normal(scale=1.0, size=n) > 0).astype(np.float32)


def _torch_baseline(X: np.ndarray, y: np.ndarray) -> tuple[torch.nn.Linear, StandardScaler]:
    torch.manual_seed(0)
    scaler = StandardScaler().fit(X)
    Xs, ys = torch.from_numpy(scaler.transform(X).astype(np.float32)), torch.from_numpy(y)
    model = torch.nn.Linear(D, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    rng = np.random.default_rng(0)
    for _ in range(EPOCHS):
        order = torch.from_numpy(rng.permutation(len(y)))
        for start in range(0, len(y), BATCH):
            rows = order[start:start + BATCH]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(Xs[rows])[:, 0], ys[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model, scaler


def run_case() -> Case:
    """Time and score the three models on the same split."""
    X, y = _data(20_000, 0)
    Xv, yv = _data(2_000, 1)
    Xt, yt = _data(5_000, 2)
    cfg = parse_hyperparameters({"feature_dim": str(D), "predictor_type": "binary_classifier", "epochs": str(EPOCHS),
                                 "mini_batch_size": str(BATCH), "num_models": "8"})
    t0 = time.perf_counter()
    models = algorithm.fit(X, y, cfg, X_eval=Xv, y_eval=yv)
    model, _, _ = selection.select(models, Xv, yv, cfg, np.random.default_rng(0))
    train_s = time.perf_counter() - t0
    torch.set_num_threads(1)  # what our fit picks for a problem this small
    t0 = time.perf_counter()
    baseline, scaler = _torch_baseline(X, y)
    baseline_train_s = time.perf_counter() - t0
    body = "\n".join(",".join(f"{v:.6g}" for v in row) for row in Xt[:1000]).encode()
    hooks = serve.handler()
    t0 = time.perf_counter()
    hooks.output_fn(hooks.predict_fn(hooks.input_fn(body, CSV), model), JSON)
    infer_s = time.perf_counter() - t0
    rows = torch.from_numpy(scaler.transform(Xt[:1000]).astype(np.float32))
    with torch.no_grad():
        t0 = time.perf_counter()
        torch.sigmoid(baseline(rows))
        baseline_infer_s = time.perf_counter() - t0
    sk = LogisticRegression(max_iter=1000).fit(scaler.transform(X), y)
    return Case(algorithm="Linear Learner", dataset="20,000 x 20 dense, 2 classes; 5,000 held out",
                train_s=train_s, baseline_train_s=baseline_train_s, baseline="torch Adam, 1 logistic model",
                infer_s=infer_s, baseline_infer_s=baseline_infer_s, metric="accuracy",
                quality=float(((model.scores(Xt) >= model.threshold) == (yt > 0.5)).mean()),
                sklearn="LogisticRegression", sklearn_quality=float(sk.score(scaler.transform(Xt), yt)))
