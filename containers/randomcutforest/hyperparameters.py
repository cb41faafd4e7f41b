"""Hyperparameters of the built-in Random Cut Forest algorithm, as SageMaker documents them.

``feature_dim`` is required (1..10000); ``num_trees`` (50..1000, default 100)
and ``num_samples_per_tree`` (1..2048, default 256) size the forest;
``eval_metrics`` chooses what a labelled ``test`` channel reports (both
``accuracy`` and ``precision_recall_fscore`` by default). The SDK's
``RandomCutForest`` estimator also sends ``mini_batch_size`` (always 1000):
accepted, since the forest does not train in mini-batches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from containers.common.errors import CustomerError
from containers.common.hyperparameters import Hyperparameter as H
from containers.common.hyperparameters import Interval, parse

EVAL_METRICS = ("accuracy", "precision_recall_fscore")
SPECS: tuple[H, ...] = (
    H("feature_dim", "int", interval=Interval(1, 10000), required=True),
    H("num_trees", "int", 100, Interval(50, 1000)),
    H("num_samples_per_tree", "int", 256, Interval(1, 2048)),
    H("eval_metrics", "str", ",".join(EVAL_METRICS)),
    H("mini_batch_size", "int", 1000, Interval(1)),
)


@dataclass(frozen=True)
class RCFConfig:
    """Parsed Random Cut Forest hyperparameters."""

    feature_dim: int
    num_trees: int
    num_samples_per_tree: int
    eval_metrics: tuple[str, ...]


def _metrics(raw: str) -> tuple[str, ...]:
    # The SDK JSON-encodes lists ('["accuracy"]'); a plain comma list is accepted too.
    text = raw.strip()
    try:
        items = json.loads(text) if text.startswith("[") else text.split(",")
    except ValueError:
        items = [text]
    metrics = tuple(str(m).strip().strip("'\"") for m in items if str(m).strip())
    bad = [m for m in metrics if m not in EVAL_METRICS]
    if bad or not metrics:
        raise CustomerError(f"Hyperparameter 'eval_metrics' has invalid value {raw!r}: must be a list of "
                            f"{' and/or '.join(repr(m) for m in EVAL_METRICS)}.")
    return metrics


def parse_hyperparameters(raw: Mapping[str, str]) -> RCFConfig:
    """Parse the job's string hyperparameters; unknown or out-of-range ones are named in the error."""
    v = parse(SPECS, raw)
    return RCFConfig(feature_dim=v["feature_dim"], num_trees=v["num_trees"],
                     num_samples_per_tree=v["num_samples_per_tree"], eval_metrics=_metrics(v["eval_metrics"]))
