"""Hyperparameters of the built-in K-Means algorithm, as SageMaker documents them.

Names, defaults and ranges follow SageMaker's K-Means reference. The SDK's
``KMeans`` estimator also sends ``force_dense`` (accepted, always dense here)
and JSON-encodes ``eval_metrics`` (``'["msd", "ssd"]'``); both spellings parse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from containers.common.errors import CustomerError
from containers.common.hyperparameters import Hyperparameter as H
from containers.common.hyperparameters import Interval, parse

INIT_METHODS = ("random", "kmeans++")
SPECS: tuple[H, ...] = (
    H("feature_dim", "int", interval=Interval(1), required=True),
    H("k", "int", interval=Interval(2), required=True),
    H("epochs", "int", 1, Interval(1)),
    H("eval_metrics", "str", "msd"),
    H("extra_center_factor", "str", "auto"),
    H("half_life_time_size", "int", 0, Interval(0)),
    H("init_method", "str", "random", choices=INIT_METHODS),
    H("local_lloyd_init_method", "str", "kmeans++", choices=INIT_METHODS),
    H("local_lloyd_max_iter", "int", 300, Interval(1)),
    H("local_lloyd_num_trials", "str", "auto"),
    H("local_lloyd_tol", "float", 0.0001, Interval(0, 1)),
    H("mini_batch_size", "int", 5000, Interval(1)),
    H("force_dense", "str", "True", choices=("True", "False", "true", "false")),
)


@dataclass(frozen=True)
class KMeansConfig:
    """Parsed K-Means hyperparameters; ``auto`` values resolved."""

    feature_dim: int
    k: int
    epochs: int
    eval_metrics: tuple[str, ...]
    extra_center_factor: int
    half_life_time_size: int
    init_method: str
    local_lloyd_init_method: str
    local_lloyd_max_iter: int
    local_lloyd_num_trials: int
    local_lloyd_tol: float
    mini_batch_size: int


def _auto_int(name: str, raw: str, auto: int) -> int:
    if raw.strip().lower() == "auto":
        return auto
    try:
        value = int(float(raw))
    except ValueError:
        value = 0
    if value < 1 or value != float(raw):
        raise CustomerError(f"Hyperparameter '{name}' has invalid value {raw!r}: must be 'auto' or an integer >= 1.")
    return value


def _metrics(raw: str) -> tuple[str, ...]:
    text = raw.strip()
    items = json.loads(text) if text.startswith("[") else text.split(",")
    metrics = tuple(str(m).strip().strip("'\"") for m in items if str(m).strip())
    bad = [m for m in metrics if m not in ("msd", "ssd")]
    if bad or not metrics:
        raise CustomerError(f"Hyperparameter 'eval_metrics' has invalid value {raw!r}: "
                            "must be a list of 'msd' and/or 'ssd'.")
    return metrics


def parse_hyperparameters(raw: Mapping[str, str], num_rows_hint: int = 0) -> KMeansConfig:
    """Parse the job's string hyperparameters; unknown or out-of-range ones are named in the error."""
    v = parse(SPECS, raw)
    k = v["k"]
    # auto: a few extra centers per cluster for the local Lloyd pass to merge, as SageMaker does.
    factor = _auto_int("extra_center_factor", v["extra_center_factor"], max(2, math.ceil(math.log10(max(k, 10)))))
    trials = _auto_int("local_lloyd_num_trials", v["local_lloyd_num_trials"], 1 if k * factor <= 100 else 3)
    return KMeansConfig(
        feature_dim=v["feature_dim"], k=k, epochs=v["epochs"], eval_metrics=_metrics(v["eval_metrics"]),
        extra_center_factor=factor, half_life_time_size=v["half_life_time_size"], init_method=v["init_method"],
        local_lloyd_init_method=v["local_lloyd_init_method"], local_lloyd_max_iter=v["local_lloyd_max_iter"],
        local_lloyd_num_trials=trials, local_lloyd_tol=v["local_lloyd_tol"], mini_batch_size=v["mini_batch_size"])
