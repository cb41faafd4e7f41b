"""Factorization Machines beside a dense-gradient torch FM and scikit-learn's Ridge.

20,000 sparse rows over 1,000 features (about 10 set per row, as
one-hot recommender data is) with a regression target that has pairwise
interactions. Ours trains with sparse gathers and lazy Adam (only the
touched rows move); the torch baseline is the same model written the
obvious way (``torch.sparse.mm`` forward, dense parameters,
``torch.optim.Adam``) for the same epochs and mini-batch. Inference: one
1,000-row sparse RecordIO-protobuf request through the serve hooks beside
the baseline's forward pass. Quality: held-out RMSE (lower is better);
Ridge cannot see the interactions.
"""

from __future__ import annotations

import io
import time

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.linear_model import Ridge

from bench.builtin_cases import Case
from containers.common.recordio import write_sparse
from containers.common.decoders import JSON, RECORDIO_PROTOBUF
from containers.factorization_machines import algorithm, serve
from containers.factorization_machines.hyperparameters import parse_hyperparameters
from containers.factorization_machines.model import FactorizationMachine

D, K, EPOCHS, BATCH, LR = 1_000, 4, 10, 500, 0.02
_rng = np.random.default_rng(7)
TRUTH = FactorizationMachine("regressor", 1.0, _rng.normal(scale=0.3, size=D), _rng.normal(scale=0.4, size=(D, K)))


def _rows(n: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.random(n, D, density=10 / D, format="csr", random_state=rng,
                     data_rvs=lambda s: np.ones(s)).astype(np.float32)


def _coo(X: sp.csr_matrix) -> torch.Tensor:
    c = X.tocoo()
    return torch.sparse_coo_tensor(np.vstack([c.row, c.col]), c.data, c.shape, dtype=torch.float32).coalesce()


def _torch_baseline(X: sp.csr_matrix, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    w0, w = torch.zeros(1, requires_grad=True), torch.zeros(D, 1, requires_grad=True)
    V = (torch.randn(D, K) * 0.1).requires_grad_(True)
    opt = torch.optim.Adam([w0, w, V], lr=LR)
    rng = np.random.default_rng(0)
    target = torch.from_numpy(y.astype(np.float32))
    for _ in range(EPOCHS):
        order = rng.permutation(X.shape[0])
        for start in range(0, X.shape[0], BATCH):
            rows = order[start:start + BATCH]
            loss = torch.nn.functional.mse_loss(_forward(_coo(X[rows]), w0, w, V), target[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w0, w, V


def _forward(Xs: torch.Tensor, w0: torch.Tensor, w: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    xv = torch.sparse.mm(Xs, V)
    x2v2 = torch.sparse.mm(Xs * Xs, V * V)
    return w0 + torch.sparse.mm(Xs, w)[:, 0] + 0.5 * (xv * xv - x2v2).sum(1)


def run_case() -> Case:
    """Time and score the three models on the same split."""
    X, Xt = _rows(20_000, 0), _rows(5_000, 1)
    y, yt = TRUTH.raw(X), TRUTH.raw(Xt)
    cfg = parse_hyperparameters({"feature_dim": str(D), "num_factors": str(K), "predictor_type": "regressor",
                                 "epochs": str(EPOCHS), "mini_batch_size": str(BATCH), "bias_lr": str(LR),
                                 "linear_lr": str(LR), "factors_lr": str(LR), "factors_init_sigma": "0.1",
                                 "linear_wd": "0", "factors_wd": "0", "bias_wd": "0"})
    t0 = time.perf_counter()
    model = algorithm.fit(X, y, cfg)
    train_s = time.perf_counter() - t0
    torch.set_num_threads(1)  # what our fit picks for a problem this small
    t0 = time.perf_counter()
    w0, w, V = _torch_baseline(X, y)
    baseline_train_s = time.perf_counter() - t0
    buf = io.BytesIO()
    write_sparse(buf, Xt[:1000])
    hooks = serve.handler()
    t0 = time.perf_counter()
    hooks.output_fn(hooks.predict_fn(hooks.input_fn(buf.getvalue(), RECORDIO_PROTOBUF), model), JSON)
    infer_s = time.perf_counter() - t0
    with torch.no_grad():
        t0 = time.perf_counter()
        _forward(_coo(Xt[:1000]), w0, w, V)
        baseline_infer_s = time.perf_counter() - t0
    rmse = lambda p: float(np.sqrt(((p - yt) ** 2).mean()))  # noqa: E731
    return Case(algorithm="Factorization Machines", dataset="20,000 x 1,000 sparse (10 nnz/row); 5,000 held out",
                train_s=train_s, baseline_train_s=baseline_train_s, baseline="torch FM, dense Adam",
                infer_s=infer_s, baseline_infer_s=baseline_infer_s, metric="RMSE", quality=rmse(model.scores(Xt)),
                sklearn="Ridge (no interactions)", sklearn_quality=rmse(Ridge(alpha=1.0).fit(X, y).predict(Xt)))
