"""SageMaker's Linear Learner: ``num_models`` linear models trained as one batched torch computation.

Every mini-batch updates all models at once: weights (models, features,
outputs), outputs (models, rows, outputs), each model with its own learning
rate, weight decay, L1 and positive-example weight (:mod:`search`). After
each epoch every model is scored on the validation channel (the training
data when there is none); each model keeps its best epoch, and training
stops early when the best model's loss has not improved by a relative
``early_stopping_tolerance`` for ``early_stopping_patience`` epochs.
No I/O: the trainer reads channels and prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from containers.linear_learner.hyperparameters import LinearLearnerConfig
from containers.linear_learner.losses import per_row_loss
from containers.linear_learner.optimizer import BatchedOptimizer
from containers.linear_learner.scaling import Matrix, Scaling, fit_scaling
from containers.linear_learner.search import ModelSettings, model_settings

EVAL_CHUNK = 8192
# Below this many multiply-adds per mini-batch, torch's intra-op threads cost far more than they
# save (measured: 20x the CPU time for a 100 x 6 batch on 2 cores), so small jobs run on one thread.
PARALLEL_WORK = 4_000_000
# Called after each epoch with (epoch, best training loss, best evaluation loss).
EpochHook = Callable[[int, float, float], None]


@dataclass(frozen=True)
class TrainedModels:
    """Every model's weights, in the raw feature and label space."""

    weights: np.ndarray  # (models, feature_dim, outputs)
    bias: np.ndarray  # (models, outputs)
    settings: ModelSettings
    epochs_run: int


def _row_weights(cfg: LinearLearnerConfig, y: torch.Tensor, settings: ModelSettings) -> torch.Tensor:
    """(models, rows) importance of each row: positive weight, or balanced class weights."""
    models = cfg.num_models
    if cfg.predictor_type == "binary_classifier":
        pw = torch.as_tensor(settings.positive_weight, dtype=torch.float32)[:, None]
        return 1 + (pw - 1) * y[None, :]
    return torch.ones(models, len(y))


def _class_weights(cfg: LinearLearnerConfig, y: np.ndarray) -> np.ndarray | None:
    if cfg.predictor_type != "multiclass_classifier" or not cfg.balance_multiclass_weights:
        return None
    counts = np.bincount(y.astype(np.int64), minlength=cfg.num_classes).astype(np.float64)
    return np.where(counts > 0, len(y) / (cfg.num_classes * np.maximum(counts, 1)), 0.0).astype(np.float32)


class _Batches:
    """Scaled mini-batches of one channel (dense data is scaled once, sparse per batch)."""

    def __init__(self, X: Matrix, y: np.ndarray, scaling: Scaling) -> None:
        self.sparse = sp.issparse(X)
        self.X = X if self.sparse else scaling.features(X)
        self.y = scaling.labels(y)
        self.scaling = scaling

    def rows(self, index: np.ndarray | slice) -> tuple[torch.Tensor, torch.Tensor]:
        X = self.scaling.features(self.X[index]) if self.sparse else self.X[index]
        return torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(self.y[index])


def _outputs(W: torch.Tensor, b: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    return torch.einsum("nd,kdc->knc", X, W) + b[:, None, :]


@torch.no_grad()
def _evaluate(data: _Batches, W: torch.Tensor, b: torch.Tensor, cfg: LinearLearnerConfig) -> np.ndarray:
    """Each model's mean objective loss on ``data`` (scaled space)."""
    total = torch.zeros(W.shape[0], dtype=torch.float64)
    n = len(data.y)
    for start in range(0, n, EVAL_CHUNK):
        X, y = data.rows(slice(start, start + EVAL_CHUNK))
        total += per_row_loss(cfg.loss, _outputs(W, b, X), y, cfg.values).sum(dim=1).double()
    return (total / n).numpy()


def fit(X: Matrix, y: np.ndarray, cfg: LinearLearnerConfig, *, X_eval: Matrix | None = None,
        y_eval: np.ndarray | None = None, seed: int = 0, on_epoch: EpochHook | None = None) -> TrainedModels:
    """Train every model on (``X``, ``y``); evaluate on (``X_eval``, ``y_eval``), or the training data."""
    threads = torch.get_num_threads()
    if min(cfg.mini_batch_size, len(y)) * cfg.feature_dim * cfg.num_models * cfg.outputs < PARALLEL_WORK:
        torch.set_num_threads(1)
    try:
        return _fit(X, y, cfg, X_eval, y_eval, seed, on_epoch)
    finally:
        torch.set_num_threads(threads)


def _fit(X: Matrix, y: np.ndarray, cfg: LinearLearnerConfig, X_eval: Matrix | None, y_eval: np.ndarray | None,
         seed: int, on_epoch: EpochHook | None) -> TrainedModels:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    scaling = fit_scaling(X, y, cfg, rng)
    settings = model_settings(cfg, y, rng)
    train = _Batches(X, y, scaling)
    evaluation = train if X_eval is None else _Batches(X_eval, y_eval, scaling)
    k, d, c = cfg.num_models, cfg.feature_dim, cfg.outputs
    if cfg.init_method == "uniform":
        W = (torch.rand(k, d, c) * 2 - 1) * cfg.init_scale
    else:
        W = torch.randn(k, d, c) * cfg.init_sigma
    b = torch.full((k, c), float(cfg.init_bias) if cfg.use_bias else 0.0)
    W.requires_grad_(True)
    b.requires_grad_(cfg.use_bias)
    lr = torch.as_tensor(settings.learning_rate, dtype=torch.float32)
    bias_lr_mult = 1.0 if cfg.bias_lr_mult == "auto" else cfg.bias_lr_mult
    bias_wd_mult = 0.0 if cfg.bias_wd_mult == "auto" else cfg.bias_wd_mult
    opt = BatchedOptimizer(cfg.optimizer, [W, b] if cfg.use_bias else [W], [lr, lr * bias_lr_mult],
                           momentum=0.0 if cfg.momentum == "auto" else cfg.momentum,
                           beta_1=0.9 if cfg.beta_1 == "auto" else cfg.beta_1,
                           beta_2=0.999 if cfg.beta_2 == "auto" else cfg.beta_2)
    wd = torch.as_tensor(settings.wd, dtype=torch.float32)
    l1 = torch.as_tensor(settings.l1, dtype=torch.float32)
    class_weights = _class_weights(cfg, y)
    n = len(y)
    batch = min(cfg.mini_batch_size, n)
    batches_per_epoch = -(-n // batch)
    step = batches_per_epoch if cfg.lr_scheduler_step == "auto" else cfg.lr_scheduler_step
    factor = 0.99 if cfg.lr_scheduler_factor == "auto" else cfg.lr_scheduler_factor
    minimum = 1e-5 if cfg.lr_scheduler_minimum_lr == "auto" else cfg.lr_scheduler_minimum_lr
    best_loss = np.full(k, np.inf)
    best_W, best_b = W.detach().clone(), b.detach().clone()
    best_overall, stale, epoch = np.inf, 0, 0
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(n)
        running = torch.zeros(k, dtype=torch.float64)
        for start in range(0, n, batch):
            Xb, yb = train.rows(order[start:start + batch])
            weights = _row_weights(cfg, yb, settings)
            if class_weights is not None:
                weights = weights * torch.from_numpy(class_weights)[yb.long()][None, :]
            rows = per_row_loss(cfg.loss, _outputs(W, b, Xb), yb, cfg.values)
            data_loss = (rows * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-12)
            penalty = 0.5 * wd * (W**2).sum(dim=(1, 2)) + 0.5 * wd * bias_wd_mult * (b**2).sum(dim=1)
            (data_loss + penalty).sum().backward()
            opt.step(minimum)
            opt.shrink(0, l1, minimum)
            running += data_loss.detach().double() * len(yb)
            if cfg.use_lr_scheduler and opt.steps % step == 0:
                opt.schedule(factor)
        losses = _evaluate(evaluation, W.detach(), b.detach(), cfg)
        improved = losses < best_loss
        best_loss = np.where(improved, losses, best_loss)
        mask = torch.from_numpy(improved)
        best_W[mask], best_b[mask] = W.detach()[mask], b.detach()[mask]
        if on_epoch:
            on_epoch(epoch, float((running / n).min()), float(losses.min()))
        if losses.min() < best_overall * (1 - cfg.early_stopping_tolerance):
            best_overall, stale = float(losses.min()), 0
        else:
            stale += 1
            if stale >= cfg.early_stopping_patience:
                break
    weights, bias = scaling.to_raw_space(best_W.numpy().astype(np.float64), best_b.numpy().astype(np.float64))
    return TrainedModels(weights=weights, bias=bias, settings=settings, epochs_run=epoch)
