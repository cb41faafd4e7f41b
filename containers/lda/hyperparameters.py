"""Hyperparameters of the built-in LDA algorithm, as SageMaker documents them.

Required: ``num_topics``, ``feature_dim`` (the vocabulary size) and
``mini_batch_size``. Optional: ``alpha0`` (1.0), ``max_restarts`` (10),
``max_iterations`` (1000), ``tol`` (1e-8). How they map onto the
variational algorithm is in :mod:`containers.lda.algorithm`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from containers.common.hyperparameters import Hyperparameter as H
from containers.common.hyperparameters import Interval, parse

SPECS: tuple[H, ...] = (
    H("num_topics", "int", interval=Interval(1), required=True),
    H("feature_dim", "int", interval=Interval(1), required=True),
    H("mini_batch_size", "int", interval=Interval(1), required=True),
    H("alpha0", "float", 1.0, Interval(0, low_open=True)),
    H("max_restarts", "int", 10, Interval(1)),
    H("max_iterations", "int", 1000, Interval(1)),
    H("tol", "float", 1e-8, Interval(0, low_open=True)),
)


@dataclass(frozen=True)
class LDAConfig:
    """Parsed LDA hyperparameters."""

    num_topics: int
    feature_dim: int
    mini_batch_size: int
    alpha0: float
    max_restarts: int
    max_iterations: int
    tol: float


def parse_hyperparameters(raw: Mapping[str, str]) -> LDAConfig:
    """Parse the job's string hyperparameters; unknown or out-of-range ones are named in the error."""
    return LDAConfig(**parse(SPECS, raw))
