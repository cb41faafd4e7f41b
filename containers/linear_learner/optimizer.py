"""SGD (with momentum), Adam and RMSProp over a batch of models, one learning rate per model.

``torch.optim`` takes one learning rate per parameter group; here every
parameter's leading axis is the model, and each model has its own rate,
weight decay and L1 strength, so the update is written out. L1 is applied
as a proximal (soft-threshold) step after the gradient step, which keeps
exact zeros, as a sparse linear model should have. The learning-rate
scheduler multiplies every rate by ``factor`` each ``step`` updates, down
to ``minimum``.
"""

from __future__ import annotations

import torch


def _per_model(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


class BatchedOptimizer:
    """Updates ``params`` (each shaped (models, ...)) in place from their ``.grad``."""

    def __init__(self, name: str, params: list[torch.Tensor], rates: list[torch.Tensor], *, momentum: float,
                 beta_1: float, beta_2: float, eps: float = 1e-8) -> None:
        self.name, self.params, self.rates = name, params, rates
        self.momentum, self.beta_1, self.beta_2, self.eps = momentum, beta_1, beta_2, eps
        self.first = [torch.zeros_like(p) for p in params]
        self.second = [torch.zeros_like(p) for p in params]
        self.steps = 0
        self.scale = 1.0

    def current_rates(self, index: int, minimum: float) -> torch.Tensor:
        """Parameter ``index``'s per-model learning rates after scheduling."""
        base = self.rates[index]
        return torch.maximum(base * self.scale, torch.clamp(base, max=minimum))

    @torch.no_grad()
    def step(self, minimum: float) -> None:
        """One update of every parameter."""
        self.steps += 1
        for i, p in enumerate(self.params):
            g = p.grad
            lr = _per_model(self.current_rates(i, minimum), p)
            if self.name == "sgd":
                self.first[i].mul_(self.momentum).add_(g)
                p.sub_(lr * self.first[i])
            elif self.name == "rmsprop":
                self.second[i].mul_(self.beta_2).addcmul_(g, g, value=1 - self.beta_2)
                p.sub_(lr * g / (self.second[i].sqrt() + self.eps))
            else:  # adam
                self.first[i].mul_(self.beta_1).add_(g, alpha=1 - self.beta_1)
                self.second[i].mul_(self.beta_2).addcmul_(g, g, value=1 - self.beta_2)
                m_hat = self.first[i] / (1 - self.beta_1**self.steps)
                v_hat = self.second[i] / (1 - self.beta_2**self.steps)
                p.sub_(lr * m_hat / (v_hat.sqrt() + self.eps))
            p.grad = None

    @torch.no_grad()
    def shrink(self, index: int, l1: torch.Tensor, minimum: float) -> None:
        """Proximal L1 step on parameter ``index``: soft-threshold by rate * ``l1`` per model."""
        p = self.params[index]
        cut = _per_model(self.current_rates(index, minimum) * l1, p)
        p.copy_(torch.sign(p) * torch.clamp(p.abs() - cut, min=0))

    def schedule(self, factor: float) -> None:
        """Decay every learning rate by ``factor``."""
        self.scale *= factor
