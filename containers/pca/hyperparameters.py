"""Hyperparameters of the built-in PCA algorithm, as SageMaker documents them.

``feature_dim``, ``mini_batch_size`` and ``num_components`` are required;
``algorithm_mode`` is ``regular`` (default) or ``randomized``;
``extra_components`` is ``-1`` (default: ``max(10, num_components)``) or a
non-negative integer, used by ``randomized`` only; ``subtract_mean`` is
``true`` (default) or ``false`` (the SDK sends ``True`` / ``False``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from containers.common.errors import CustomerError
from containers.common.hyperparameters import Hyperparameter as H
from containers.common.hyperparameters import Interval, parse

MODES = ("regular", "randomized")
BOOLEANS = ("true", "false", "True", "False")
SPECS: tuple[H, ...] = (
    H("feature_dim", "int", interval=Interval(1), required=True),
    H("mini_batch_size", "int", interval=Interval(1), required=True),
    H("num_components", "int", interval=Interval(1), required=True),
    H("algorithm_mode", "str", "regular", choices=MODES),
    H("extra_components", "int", -1, Interval(-1)),
    H("subtract_mean", "str", "true", choices=BOOLEANS),
)


@dataclass(frozen=True)
class PCAConfig:
    """Parsed PCA hyperparameters; ``extra_components`` resolved."""

    feature_dim: int
    mini_batch_size: int
    num_components: int
    algorithm_mode: str
    extra_components: int
    subtract_mean: bool


def parse_hyperparameters(raw: Mapping[str, str]) -> PCAConfig:
    """Parse the job's string hyperparameters; unknown or out-of-range ones are named in the error."""
    v = parse(SPECS, raw)
    if v["num_components"] > v["feature_dim"]:
        raise CustomerError(f"Hyperparameter 'num_components' has invalid value {raw['num_components']!r}: "
                            f"must not exceed feature_dim ({v['feature_dim']}).")
    extra = v["extra_components"]
    if extra == -1:  # SageMaker's default: the maximum of 10 and num_components
        extra = max(10, v["num_components"])
    return PCAConfig(feature_dim=v["feature_dim"], mini_batch_size=v["mini_batch_size"],
                     num_components=v["num_components"], algorithm_mode=v["algorithm_mode"],
                     extra_components=extra, subtract_mean=v["subtract_mean"].lower() == "true")
