"""IP Insights: entity and IP address embeddings trained to tell observed pairs from negatives.

The entity vector is a row of an embedding table (entities hashed into
``num_entity_vectors`` buckets). The IP vector is built from the address's
prefix structure (the sum of one embedding per byte-aligned prefix) plus a
linear map of its 128 bits, so every address has its own vector while
neighbours in one network share most of it, followed by
``num_ip_encoder_layers`` fully connected layers. ``sigmoid(entity . ip)``
is the probability that a pair was observed; training minimises the log
loss of observed pairs (label 1) against negatives (label 0): each batch's
entities paired with uniformly random addresses of the same family
(``random_negative_sampling_rate`` per pair) and with addresses shuffled
within the batch (``shuffled_negative_sampling_rate``), with Adam. Only
the table rows a batch uses are updated, so a table's size costs memory,
not time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from containers.ipinsights import encoding
from containers.ipinsights.hyperparameters import IPInsightsConfig


class IPInsightsNet(nn.Module):
    """The two encoders whose dot product scores a pair."""

    def __init__(self, num_entity_vectors: int, vector_dim: int, prefix_buckets: int, layers: int) -> None:
        super().__init__()
        scale = vector_dim ** -0.5
        # The tables are updated row by row (only the rows a batch uses), outside autograd.
        self.entity = nn.Parameter(torch.randn(num_entity_vectors, vector_dim) * scale, requires_grad=False)
        self.prefix = nn.Parameter(torch.randn(prefix_buckets, vector_dim) * scale / encoding.PREFIX_LEVELS ** 0.5,
                                   requires_grad=False)
        self.bits = nn.Linear(8 * encoding.IP_BYTES, vector_dim)
        stack: list[nn.Module] = []
        for i in range(layers):
            stack += [nn.ReLU()] if i else []
            stack.append(nn.Linear(vector_dim, vector_dim))
        self.encoder = nn.Sequential(*stack)

    @property
    def prefix_buckets(self) -> int:
        """Rows of the prefix table."""
        return int(self.prefix.shape[0])

    def lookup(self, entities: np.ndarray, ips: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Table indices of the pairs: entity rows (n,), prefix rows (n, 16), and the address bits (n, 128)."""
        return (torch.from_numpy(entities), torch.from_numpy(encoding.prefix_buckets(ips, self.prefix_buckets)),
                torch.from_numpy(encoding.ip_bits(ips)))

    def encode_ip(self, prefix_rows: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """IP vectors from their gathered prefix rows (n, 16, dim) and bits (n, 128)."""
        return self.encoder(prefix_rows.sum(1) + self.bits(bits))


class _Adam:
    """Adam (with L2 weight decay, as torch's) for dense parameters and, lazily, for table rows.

    Written out because a table row's moments only move when a batch uses
    the row (as SparseAdam), and torch's optimiser classes cost seconds of
    set-up on their first step.
    """

    def __init__(self, net: IPInsightsNet, lr: float, weight_decay: float) -> None:
        self.lr, self.wd, self.step_count = lr, weight_decay, 0
        self.moments = {id(p): (torch.zeros_like(p), torch.zeros_like(p)) for p in net.parameters()}

    def _update(self, param: torch.Tensor, rows: torch.Tensor | None, grad: torch.Tensor) -> None:
        m, v = self.moments[id(param)]
        target = param.data if rows is None else param.data[rows]
        grad = grad + self.wd * target
        m_new = 0.9 * (m if rows is None else m[rows]) + 0.1 * grad
        v_new = 0.999 * (v if rows is None else v[rows]) + 0.001 * grad * grad
        m_hat, v_hat = m_new / (1 - 0.9 ** self.step_count), v_new / (1 - 0.999 ** self.step_count)
        step = self.lr * m_hat / (v_hat.sqrt() + 1e-8)
        if rows is None:
            m.copy_(m_new), v.copy_(v_new), param.data.sub_(step)
        else:
            m[rows], v[rows] = m_new, v_new
            param.data[rows] = target - step

    def step(self, dense: list[torch.Tensor], tables: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
        """Apply dense gradients and (table, row indices, row gradients) updates."""
        self.step_count += 1
        for param in dense:
            if param.grad is not None:
                self._update(param, None, param.grad)
                param.grad = None
        for table, index, grad in tables:
            rows, inverse = torch.unique(index, return_inverse=True)
            summed = torch.zeros(len(rows), table.shape[1]).index_add_(0, inverse, grad)
            self._update(table, rows, summed)


def random_ips(like: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random addresses, IPv4 where ``like`` is IPv4 and IPv6 elsewhere."""
    out = rng.integers(0, 256, size=like.shape, dtype=np.uint8)
    v4 = encoding.is_v4(like)
    out[v4, :12] = like[v4, :12]  # keep the ::ffff: mapping prefix
    return out


def negatives(entities: np.ndarray, ips: np.ndarray, cfg: IPInsightsConfig,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The batch's negative pairs: random addresses, then addresses shuffled within the batch."""
    ents = [entities] * (cfg.random_negative_sampling_rate + cfg.shuffled_negative_sampling_rate)
    addrs = [random_ips(ips, rng) for _ in range(cfg.random_negative_sampling_rate)]
    addrs += [ips[rng.permutation(len(ips))] for _ in range(cfg.shuffled_negative_sampling_rate)]
    if not addrs:
        return entities[:0], ips[:0]
    return np.concatenate(ents), np.concatenate(addrs)


def fit(entities: np.ndarray, ips: np.ndarray, cfg: IPInsightsConfig, seed: int = 0,
        on_epoch: Callable[[int, float], None] | None = None,
        on_batch: Callable[[int, float], None] | None = None) -> IPInsightsNet:
    """Train on observed pairs (entity buckets, (rows, 16) address bytes)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net = IPInsightsNet(cfg.num_entity_vectors, cfg.vector_dim, encoding.prefix_table_size(ips),
                        cfg.num_ip_encoder_layers)
    dense = [p for p in net.parameters() if p.requires_grad]
    adam = _Adam(net, cfg.learning_rate, cfg.weight_decay)
    batch = min(cfg.mini_batch_size, len(ips))
    step = 0
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(ips))
        total, count = 0.0, 0
        for start in range(0, len(ips), batch):
            rows = order[start:start + batch]
            neg_e, neg_ip = negatives(entities[rows], ips[rows], cfg, rng)
            ent_idx, pre_idx, bits = net.lookup(np.concatenate([entities[rows], neg_e]),
                                                np.concatenate([ips[rows], neg_ip]))
            e = net.entity.data[ent_idx].requires_grad_()
            p = net.prefix.data[pre_idx].requires_grad_()
            logits = (e * net.encode_ip(p, bits)).sum(1)
            labels = torch.cat([torch.ones(len(rows)), torch.zeros(len(neg_e))])
            loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
            loss.backward()
            adam.step(dense, [(net.entity, ent_idx, e.grad), (net.prefix, pre_idx.reshape(-1),
                                                               p.grad.reshape(-1, p.shape[-1]))])
            total += float(loss.detach()) * len(labels)
            count += len(labels)
            step += 1
            if on_batch:
                on_batch(step, float(loss.detach()))
        if on_epoch:
            on_epoch(epoch + 1, total / max(count, 1))
    return net.eval()


@torch.no_grad()
def embed(net: IPInsightsNet, entities: np.ndarray, ips: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dot products, entity vectors and IP vectors of the pairs."""
    ent_idx, pre_idx, bits = net.lookup(entities, ips)
    e, ip = net.entity[ent_idx], net.encode_ip(net.prefix[pre_idx], bits)
    return (e * ip).sum(1).numpy(), e.numpy(), ip.numpy()


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve: how often a positive outscores a negative (ties count half)."""
    scores = np.concatenate([positive, negative])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.bincount(inverse, weights=ranks) / counts)[inverse]
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
