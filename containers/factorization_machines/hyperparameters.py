"""Hyperparameters of the built-in Factorization Machines, as SageMaker documents them.

Names, defaults and ranges follow SageMaker's reference and the SageMaker
Python SDK's ``FactorizationMachines`` estimator. Each of the three terms
(``bias``, ``linear``, ``factors``) has a learning rate, a weight decay and
an initialization: ``normal`` (``*_init_sigma``), ``uniform`` in
[-``*_init_scale``, +``*_init_scale``] or ``constant`` (``*_init_value``).
SageMaker gives ``*_init_scale`` and ``*_init_value`` no default; here an
unset scale falls back to the term's default sigma and an unset value to 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from containers.common.hyperparameters import Hyperparameter as H
from containers.common.hyperparameters import Interval, parse

PREDICTOR_TYPES = ("binary_classifier", "regressor")
INIT_METHODS = ("normal", "uniform", "constant")
TERMS = ("bias", "linear", "factors")
NON_NEGATIVE = Interval(0)
DEFAULTS = {  # term: (learning rate, weight decay, init sigma)
    "bias": (0.1, 0.01, 0.01),
    "linear": (0.001, 0.001, 0.01),
    "factors": (0.0001, 0.00001, 0.001),
}

SPECS: tuple[H, ...] = (
    H("feature_dim", "int", interval=Interval(1), required=True),
    H("num_factors", "int", interval=Interval(1), required=True),
    H("predictor_type", "str", choices=PREDICTOR_TYPES, required=True),
    H("mini_batch_size", "int", 1000, Interval(1)),
    H("epochs", "int", 1, Interval(1)),
    H("clip_gradient", "float", interval=Interval(0, low_open=True)),
    H("eps", "float", 1e-8, Interval(0, low_open=True)),
    H("rescale_grad", "float", 1.0, Interval(0, low_open=True)),
    *(spec for term, (lr, wd, sigma) in DEFAULTS.items() for spec in (
        H(f"{term}_lr", "float", lr, NON_NEGATIVE),
        H(f"{term}_wd", "float", wd, NON_NEGATIVE),
        H(f"{term}_init_method", "str", "normal", choices=INIT_METHODS),
        H(f"{term}_init_scale", "float", sigma, NON_NEGATIVE),
        H(f"{term}_init_sigma", "float", sigma, NON_NEGATIVE),
        H(f"{term}_init_value", "float", 0.0),
    )),
)


@dataclass(frozen=True)
class TermConfig:
    """Learning rate, weight decay and initialization of one term."""

    lr: float
    wd: float
    init_method: str
    init_scale: float
    init_sigma: float
    init_value: float


@dataclass(frozen=True)
class FactorizationMachinesConfig:
    """Parsed Factorization Machines hyperparameters."""

    feature_dim: int
    num_factors: int
    predictor_type: str
    mini_batch_size: int
    epochs: int
    clip_gradient: float | None
    eps: float
    rescale_grad: float
    bias: TermConfig
    linear: TermConfig
    factors: TermConfig


def parse_hyperparameters(raw: Mapping[str, str]) -> FactorizationMachinesConfig:
    """Parse the job's string hyperparameters; unknown or out-of-range ones are named in the error."""
    v = parse(SPECS, raw)
    terms = {term: TermConfig(**{field: v[f"{term}_{field}"] for field in TermConfig.__dataclass_fields__})
             for term in TERMS}
    return FactorizationMachinesConfig(
        feature_dim=v["feature_dim"], num_factors=v["num_factors"], predictor_type=v["predictor_type"],
        mini_batch_size=v["mini_batch_size"], epochs=v["epochs"], clip_gradient=v.get("clip_gradient"),
        eps=v["eps"], rescale_grad=v["rescale_grad"], **terms)
