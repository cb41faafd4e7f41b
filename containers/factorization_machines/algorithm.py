"""Training a factorization machine on sparse rows with torch, never densifying the data.

A mini-batch is its CSR pieces: (row, column, value) per stored entry. The
factors and linear weights of the columns present are gathered with
``embedding(..., sparse=True)``, so the backward pass yields *sparse*
gradients (only the rows touched), and the batch's interactions are summed
per row with ``index_add``: O(k * nnz) per batch whatever ``feature_dim``
is. The optimizer is Adam applied lazily (moments and weight decay on the
touched rows only, as sparse-aware optimizers do), with SageMaker's
per-term learning rates and weight decays, ``rescale_grad``,
``clip_gradient`` and ``eps``. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from containers.factorization_machines.hyperparameters import FactorizationMachinesConfig, TermConfig
from containers.factorization_machines.model import FactorizationMachine

BETA_1, BETA_2 = 0.9, 0.999
# Below this many stored entries times factors per mini-batch, torch's intra-op threads cost more
# CPU than they save, so small jobs run on one thread.
PARALLEL_WORK = 4_000_000
# Called after each epoch with (epoch, mean training loss, training accuracy or None).
EpochHook = Callable[[int, float, "float | None"], None]


def _init(shape: tuple[int, ...], term: TermConfig, gen: torch.Generator) -> torch.Tensor:
    if term.init_method == "uniform":
        return (torch.rand(shape, generator=gen) * 2 - 1) * term.init_scale
    if term.init_method == "constant":
        return torch.full(shape, float(term.init_value))
    return torch.randn(shape, generator=gen) * term.init_sigma


@dataclass
class _Parameter:
    """A tensor with its term's settings and lazy Adam moments."""

    value: torch.Tensor
    term: TermConfig

    def __post_init__(self) -> None:
        self.value.requires_grad_(True)
        self.m = torch.zeros_like(self.value)
        self.v = torch.zeros_like(self.value)

    @torch.no_grad()
    def update(self, step: int, cfg: FactorizationMachinesConfig) -> None:
        grad = self.value.grad
        if grad is None:
            return
        if grad.is_sparse:
            grad = grad.coalesce()
            rows, g = grad.indices()[0], grad.values()
        else:
            rows, g = torch.arange(self.value.shape[0]), grad
        g = g * cfg.rescale_grad + self.term.wd * self.value[rows]
        if cfg.clip_gradient is not None:
            g = g.clamp(-cfg.clip_gradient, cfg.clip_gradient)
        m = self.m[rows].mul_(BETA_1).add_(g, alpha=1 - BETA_1)
        v = self.v[rows].mul_(BETA_2).addcmul_(g, g, value=1 - BETA_2)
        self.m[rows], self.v[rows] = m, v
        m_hat, v_hat = m / (1 - BETA_1**step), v / (1 - BETA_2**step)
        self.value[rows] -= self.term.lr * m_hat / (v_hat.sqrt() + cfg.eps)
        self.value.grad = None


def _batch(X: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row of each entry, column, value) of a CSR block."""
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    return (torch.from_numpy(rows), torch.from_numpy(X.indices.astype(np.int64)),
            torch.from_numpy(X.data.astype(np.float32)))


def forward(X: sp.csr_matrix, w0: torch.Tensor, w: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Raw outputs (rows,) of a CSR block, with sparse gradients for ``w`` (d, 1) and ``V`` (d, k)."""
    rows, cols, vals = _batch(X)
    n, k = X.shape[0], V.shape[1]
    xv = F.embedding(cols, V, sparse=True) * vals[:, None]  # (nnz, k)
    linear = (F.embedding(cols, w, sparse=True)[:, 0] * vals)
    sums = torch.zeros(n, k).index_add(0, rows, xv)
    squares = torch.zeros(n, k).index_add(0, rows, xv * xv)
    return w0 + torch.zeros(n).index_add(0, rows, linear) + 0.5 * (sums * sums - squares).sum(dim=1)


def fit(X: np.ndarray | sp.csr_matrix, y: np.ndarray, cfg: FactorizationMachinesConfig, *, seed: int = 0,
        on_epoch: EpochHook | None = None) -> FactorizationMachine:
    """Train on (``X``, ``y``): labels 0/1 for a binary classifier, real values for a regressor."""
    X = sp.csr_matrix(X, dtype=np.float32)
    X.sort_indices()
    threads = torch.get_num_threads()
    if X.nnz / max(X.shape[0], 1) * min(cfg.mini_batch_size, X.shape[0]) * cfg.num_factors < PARALLEL_WORK:
        torch.set_num_threads(1)
    try:
        return _fit(X, y, cfg, seed, on_epoch)
    finally:
        torch.set_num_threads(threads)


def _fit(X: sp.csr_matrix, y: np.ndarray, cfg: FactorizationMachinesConfig, seed: int,
         on_epoch: EpochHook | None) -> FactorizationMachine:
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    d, k = cfg.feature_dim, cfg.num_factors
    w0 = _Parameter(_init((1,), cfg.bias, gen), cfg.bias)
    w = _Parameter(_init((d, 1), cfg.linear, gen), cfg.linear)
    V = _Parameter(_init((d, k), cfg.factors, gen), cfg.factors)
    binary = cfg.predictor_type == "binary_classifier"
    labels = torch.from_numpy(y.astype(np.float32))
    n, batch, step = X.shape[0], min(cfg.mini_batch_size, X.shape[0]), 0
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(n)
        total, correct = 0.0, 0
        for start in range(0, n, batch):
            rows = order[start:start + batch]
            raw = forward(X[rows], w0.value, w.value, V.value)
            target = labels[rows]
            if binary:
                loss = F.binary_cross_entropy_with_logits(raw, target)
                correct += int(((raw >= 0).float() == target).sum())
            else:
                loss = F.mse_loss(raw, target)
            loss.backward()
            step += 1
            for p in (w0, w, V):
                p.update(step, cfg)
            total += float(loss.detach()) * len(rows)
        if on_epoch:
            on_epoch(epoch, total / n, correct / n if binary else None)
    return FactorizationMachine(predictor_type=cfg.predictor_type, w0=float(w0.value.detach()[0]),
                                w=w.value.detach().numpy()[:, 0].astype(np.float64),
                                V=V.value.detach().numpy().astype(np.float64))
