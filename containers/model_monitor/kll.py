"""A KLL quantile sketch, serialised the way SageMaker's statistics.json holds it.

SageMaker's analyzer (built on Deequ) keeps every numeric feature's
distribution as a KLL sketch: ``sketch.parameters`` ``{c, k}`` and
``sketch.data``, one list of retained items per level, an item on level ``h``
standing for ``2**h`` observations. A monitoring run only has the baseline's
statistics file, never the baseline data, so drift is measured against this
sketch. Up to ``k`` values the sketch is exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DEFAULT_K = 2048
DEFAULT_C = 0.7


class KllSketch:
    """Mergeable quantile sketch with lazy compaction (Karnin, Lang, Liberty)."""

    def __init__(self, k: int = DEFAULT_K, c: float = DEFAULT_C, seed: int = 0) -> None:
        self.k = k
        self.c = c
        self.levels: list[np.ndarray] = [np.empty(0)]
        # Seeded: the same data always gives the same statistics file.
        self._rng = np.random.default_rng(seed)

    @property
    def n(self) -> int:
        """How many observations the sketch stands for."""
        return int(sum(len(level) << h for h, level in enumerate(self.levels)))

    def update(self, values: np.ndarray) -> KllSketch:
        """Add observations (NaNs must be dropped by the caller)."""
        values = np.asarray(values, dtype=float)
        if values.size:
            self.levels[0] = np.concatenate([self.levels[0], values])
            self._compress()
        return self

    def _capacity(self, level: int) -> int:
        depth = len(self.levels) - 1 - level
        return max(2, math.ceil(self.k * self.c**depth))

    def _compress(self) -> None:
        h = 0
        while h < len(self.levels):
            level = self.levels[h]
            if len(level) > self._capacity(h):
                if h + 1 == len(self.levels):
                    self.levels.append(np.empty(0))
                ordered = np.sort(level)
                # An odd item out stays on this level so that no weight is lost.
                keep = ordered[:1] if len(ordered) % 2 else ordered[:0]
                pairs = ordered[len(keep):]
                offset = int(self._rng.integers(2))
                self.levels[h] = keep
                self.levels[h + 1] = np.concatenate([self.levels[h + 1], pairs[offset::2]])
                h = 0  # capacities shift when a level is added
                continue
            h += 1

    def items_and_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """All retained items, sorted, with the weight each stands for."""
        items = np.concatenate(self.levels) if self.levels else np.empty(0)
        weights = np.concatenate([np.full(len(level), float(1 << h)) for h, level in enumerate(self.levels)])
        order = np.argsort(items, kind="stable")
        return items[order], weights[order]

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """Estimated fraction of observations ``<= point`` for each point."""
        items, weights = self.items_and_weights()
        total = weights.sum()
        if total == 0:
            return np.zeros(len(points))
        cumulative = np.concatenate([[0.0], np.cumsum(weights)])
        return cumulative[np.searchsorted(items, points, side="right")] / total

    def quantiles(self, fractions: np.ndarray) -> np.ndarray:
        """Estimated values at the given fractions of the distribution."""
        items, weights = self.items_and_weights()
        if not len(items):
            return np.full(len(fractions), np.nan)
        ranks = np.cumsum(weights) / weights.sum()
        index = np.minimum(np.searchsorted(ranks, fractions, side="left"), len(items) - 1)
        return items[index]

    def to_json(self) -> dict[str, Any]:
        """The ``sketch`` object of statistics.json."""
        return {
            "parameters": {"c": self.c, "k": float(self.k)},
            "data": [[float(v) for v in level] for level in self.levels],
        }

    @classmethod
    def from_json(cls, sketch: dict[str, Any]) -> KllSketch:
        """Rebuild a sketch from statistics.json (SageMaker's or ours)."""
        parameters = sketch.get("parameters") or {}
        out = cls(k=int(parameters.get("k", DEFAULT_K)), c=float(parameters.get("c", DEFAULT_C)))
        data = sketch.get("data") or [[]]
        out.levels = [np.asarray(level, dtype=float) for level in data] or [np.empty(0)]
        return out
