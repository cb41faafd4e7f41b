"""Hyperparameters of the built-in Linear Learner, as SageMaker documents them.

Names, defaults, ``auto`` values and ranges follow SageMaker's Linear Learner
reference and the SageMaker Python SDK's ``LinearLearner`` estimator (which
also accepts ``f1`` and ``cross_entropy_loss`` as selection criteria, and
``softmax_loss``). ``auto`` values that do not depend on the data are resolved
here; the rest (``positive_example_weight_mult``, normalization) by the
trainer once it has seen the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from containers.common.errors import CustomerError
from containers.common.hyperparameters import Hyperparameter as H
from containers.common.hyperparameters import Interval, parse

PREDICTOR_TYPES = ("binary_classifier", "multiclass_classifier", "regressor")
CRITERIA = ("accuracy", "f_beta", "f1", "precision_at_target_recall", "recall_at_target_precision",
            "loss_function", "cross_entropy_loss")
LOSSES = {
    "binary_classifier": ("logistic", "hinge_loss"),
    "multiclass_classifier": ("softmax_loss",),
    "regressor": ("squared_loss", "absolute_loss", "eps_insensitive_squared_loss", "eps_insensitive_absolute_loss",
                  "quantile_loss", "huber_loss"),
}
AUTO_LOSS = {"binary_classifier": "logistic", "multiclass_classifier": "softmax_loss", "regressor": "squared_loss"}
OPTIMIZERS = ("auto", "sgd", "adam", "rmsprop")
TRI_STATE = ("auto", "true", "false")
UNIT_OPEN = Interval(0, 1, low_open=True, high_open=True)
UNIT_RIGHT_OPEN = Interval(0, 1, high_open=True)
POSITIVE = Interval(0, low_open=True)
NON_NEGATIVE = Interval(0)
# When SageMaker's automatic model tuning runs the job, Linear Learner turns its own search off.
TUNING_KEY = "_tuning_objective_metric"

SPECS: tuple[H, ...] = (
    H("feature_dim", "int", interval=Interval(1), required=True),
    H("predictor_type", "str", choices=PREDICTOR_TYPES, required=True),
    H("num_classes", "int", interval=Interval(3, 1_000_000)),
    H("accuracy_top_k", "int", 3, Interval(1, 1_000_000)),
    H("balance_multiclass_weights", "bool", False),
    H("beta_1", "float", "auto", UNIT_RIGHT_OPEN, auto=True),
    H("beta_2", "float", "auto", UNIT_RIGHT_OPEN, auto=True),
    H("bias_lr_mult", "float", "auto", POSITIVE, auto=True),
    H("bias_wd_mult", "float", "auto", NON_NEGATIVE, auto=True),
    H("binary_classifier_model_selection_criteria", "str", "accuracy", choices=CRITERIA),
    H("early_stopping_patience", "int", 3, Interval(1)),
    H("early_stopping_tolerance", "float", 0.001, POSITIVE),
    H("epochs", "int", 15, Interval(1)),
    H("f_beta", "float", 1.0, POSITIVE),
    H("huber_delta", "float", 1.0, NON_NEGATIVE),
    H("init_bias", "float", 0.0),
    H("init_method", "str", "uniform", choices=("uniform", "normal")),
    H("init_scale", "float", 0.07, POSITIVE),
    H("init_sigma", "float", 0.01, POSITIVE),
    H("l1", "float", "auto", NON_NEGATIVE, auto=True),
    H("learning_rate", "float", "auto", POSITIVE, auto=True),
    H("loss", "str", "auto", choices=("auto", *(loss for group in LOSSES.values() for loss in group))),
    H("loss_insensitivity", "float", 0.01, POSITIVE),
    H("lr_scheduler_factor", "float", "auto", UNIT_OPEN, auto=True),
    H("lr_scheduler_minimum_lr", "float", "auto", POSITIVE, auto=True),
    H("lr_scheduler_step", "int", "auto", Interval(1), auto=True),
    H("margin", "float", 1.0, NON_NEGATIVE),
    H("mini_batch_size", "int", 1000, Interval(1)),
    H("momentum", "float", "auto", UNIT_RIGHT_OPEN, auto=True),
    H("normalize_data", "bool", True, auto=True),
    H("normalize_label", "bool", "auto", auto=True),
    H("num_calibration_samples", "int", "auto", Interval(1), auto=True),
    H("num_models", "int", "auto", Interval(1), auto=True),
    H("num_point_for_scaler", "int", 10_000, Interval(1)),
    H("optimizer", "str", "auto", choices=OPTIMIZERS),
    H("positive_example_weight_mult", "str", "1.0"),
    H("quantile", "float", 0.5, UNIT_OPEN),
    H("target_precision", "float", 0.8, UNIT_OPEN),
    H("target_recall", "float", 0.8, UNIT_OPEN),
    H("unbias_data", "bool", "auto", auto=True),
    H("unbias_label", "bool", "auto", auto=True),
    H("use_bias", "bool", True),
    H("use_lr_scheduler", "bool", True),
    H("wd", "float", "auto", NON_NEGATIVE, auto=True),
)

# ``auto`` defaults that do not depend on the data (chosen for CPU training of a handful of models).
AUTO_NUM_MODELS = 8
AUTO_LEARNING_RATE = {"adam": 0.02, "rmsprop": 0.01, "sgd": 0.1}


@dataclass(frozen=True)
class LinearLearnerConfig:
    """Parsed Linear Learner hyperparameters; ``auto`` kept only where the data decides."""

    feature_dim: int
    predictor_type: str
    num_classes: int  # 1 output for binary_classifier and regressor
    loss: str
    optimizer: str
    learning_rate: float
    num_models: int
    values: dict[str, Any]  # every other hyperparameter, parsed ("auto" where the data decides)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def outputs(self) -> int:
        """Width of the model's raw output: ``num_classes`` for multiclass, else 1."""
        return self.num_classes if self.predictor_type == "multiclass_classifier" else 1


def _positive_weight(raw: str) -> float | str:
    text = raw.strip().strip('"').lower()
    if text in ("auto", "balanced"):
        return text
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise CustomerError(f"Hyperparameter 'positive_example_weight_mult' has invalid value {raw!r}: "
                            "must be 'auto', 'balanced' or a positive number.")
    return value


def parse_hyperparameters(raw: Mapping[str, str]) -> LinearLearnerConfig:
    """Parse the job's string hyperparameters; unknown, out-of-range or inconsistent ones are named."""
    v = parse(SPECS, raw)
    kind = v.pop("predictor_type")
    if kind == "multiclass_classifier" and "num_classes" not in v:
        raise CustomerError("Hyperparameter 'num_classes' is required when predictor_type is "
                            "'multiclass_classifier' (an integer from 3 to 1000000).")
    loss = v.pop("loss")
    loss = AUTO_LOSS[kind] if loss == "auto" else loss
    if loss not in LOSSES[kind]:
        raise CustomerError(f"Hyperparameter 'loss' has invalid value {loss!r} for predictor_type {kind!r}: "
                            f"must be one of auto, {', '.join(LOSSES[kind])}.")
    optimizer = v.pop("optimizer")
    optimizer = "adam" if optimizer == "auto" else optimizer
    lr = v["learning_rate"]  # kept: "auto" widens the search across models
    models = 1 if TUNING_KEY in raw else v.pop("num_models")
    v.pop("num_models", None)
    v["positive_example_weight_mult"] = _positive_weight(v["positive_example_weight_mult"])
    # num_classes is ignored unless multiclass, as SageMaker documents.
    given_classes = v.pop("num_classes", None)
    classes = given_classes if kind == "multiclass_classifier" else 2 if kind == "binary_classifier" else 1
    return LinearLearnerConfig(
        feature_dim=v.pop("feature_dim"), predictor_type=kind,
        num_classes=classes, loss=loss, optimizer=optimizer,
        learning_rate=AUTO_LEARNING_RATE[optimizer] if lr == "auto" else lr,
        num_models=AUTO_NUM_MODELS if models == "auto" else models, values=v)
