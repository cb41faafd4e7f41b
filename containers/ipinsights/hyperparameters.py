"""Hyperparameters of the built-in IP Insights algorithm, as SageMaker documents them.

``num_entity_vectors`` (1..250,000,000) and ``vector_dim`` (4..4096) are
required. ``mini_batch_size`` is SageMaker's name for the batch size
(1..500,000, default 10,000). ``batch_metrics_publish_interval`` is how
often (in batches) the training speed is logged. The SDK's ``IPInsights``
estimator also sends ``feature_dim`` (from its record sets): accepted and
unused, since the input is always (entity, address) pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from containers.common.hyperparameters import Hyperparameter as H
from containers.common.hyperparameters import Interval, parse

SPECS: tuple[H, ...] = (
    H("num_entity_vectors", "int", interval=Interval(1, 250_000_000), required=True),
    H("vector_dim", "int", interval=Interval(4, 4096), required=True),
    H("batch_metrics_publish_interval", "int", 1000, Interval(1)),
    H("epochs", "int", 10, Interval(1)),
    H("learning_rate", "float", 0.001, Interval(1e-6, 10.0)),
    H("mini_batch_size", "int", 10_000, Interval(1, 500_000)),
    H("num_ip_encoder_layers", "int", 1, Interval(0, 100)),
    H("random_negative_sampling_rate", "int", 1, Interval(0, 500)),
    H("shuffled_negative_sampling_rate", "int", 1, Interval(0, 500)),
    H("weight_decay", "float", 0.00001, Interval(0.0, 10.0)),
    H("feature_dim", "int", None, Interval(1)),
)


@dataclass(frozen=True)
class IPInsightsConfig:
    """Parsed IP Insights hyperparameters."""

    num_entity_vectors: int
    vector_dim: int
    batch_metrics_publish_interval: int
    epochs: int
    learning_rate: float
    mini_batch_size: int
    num_ip_encoder_layers: int
    random_negative_sampling_rate: int
    shuffled_negative_sampling_rate: int
    weight_decay: float


def parse_hyperparameters(raw: Mapping[str, str]) -> IPInsightsConfig:
    """Parse the job's string hyperparameters; unknown or out-of-range ones are named in the error."""
    values = parse(SPECS, raw)
    values.pop("feature_dim", None)
    return IPInsightsConfig(**values)
