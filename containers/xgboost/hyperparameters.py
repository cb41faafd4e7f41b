"""Hyperparameters of the built-in XGBoost algorithm, as SageMaker documents them.

Names, defaults and ranges follow SageMaker's XGBoost algorithm reference.
A few of its names predate the XGBoost release this container ships (3.x):
those are still accepted, so existing jobs keep working, and are translated or
dropped with a log line rather than handed to XGBoost, which would warn about
or reject them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from containers.common.errors import CustomerError
from containers.common.hyperparameters import Hyperparameter as H
from containers.common.hyperparameters import Interval, parse

OBJECTIVES = (
    "reg:squarederror", "reg:squaredlogerror", "reg:logistic", "reg:pseudohubererror",
    "reg:absoluteerror", "reg:quantileerror", "reg:gamma", "reg:tweedie", "reg:linear",
    "binary:logistic", "binary:logitraw", "binary:hinge", "count:poisson",
    "survival:cox", "survival:aft", "multi:softmax", "multi:softprob",
    "rank:pairwise", "rank:ndcg", "rank:map",
)  # fmt: skip
EVAL_METRICS = (
    "rmse", "rmsle", "mae", "mape", "mphe", "logloss", "error", "merror", "mlogloss",
    "auc", "aucpr", "ndcg", "map", "pre", "poisson-nloglik", "gamma-nloglik",
    "cox-nloglik", "gamma-deviance", "tweedie-nloglik", "aft-nloglik",
    "interval-regression-accuracy",
)  # fmt: skip
TRUE_FALSE = ("true", "false")
UNIT = Interval(0, 1)
UNIT_OPEN_LOW = Interval(0, 1, low_open=True)
NON_NEGATIVE = Interval(0)
POSITIVE_INT = Interval(1)

SPECS: tuple[H, ...] = (
    H("num_round", "int", interval=POSITIVE_INT, required=True),
    H("num_class", "int", interval=Interval(2)),
    H("objective", "str", "reg:squarederror", choices=OBJECTIVES),
    H("booster", "str", "gbtree", choices=("gbtree", "gblinear", "dart")),
    H("eta", "float", 0.3, UNIT),
    H("gamma", "float", 0.0, NON_NEGATIVE),
    H("max_depth", "int", 6, NON_NEGATIVE),
    H("min_child_weight", "float", 1.0, NON_NEGATIVE),
    H("max_delta_step", "float", 0.0, NON_NEGATIVE),
    H("subsample", "float", 1.0, UNIT_OPEN_LOW),
    H("colsample_bytree", "float", 1.0, UNIT_OPEN_LOW),
    H("colsample_bylevel", "float", 1.0, UNIT_OPEN_LOW),
    H("colsample_bynode", "float", 1.0, UNIT_OPEN_LOW),
    H("lambda", "float", 1.0, NON_NEGATIVE),
    H("alpha", "float", 0.0, NON_NEGATIVE),
    H("tree_method", "str", "auto", choices=("auto", "exact", "approx", "hist", "gpu_hist")),
    H("sketch_eps", "float", interval=Interval(0, 1, low_open=True, high_open=True)),
    H("scale_pos_weight", "float", 1.0, Interval(0, low_open=True)),
    H("updater", "list"),
    H("refresh_leaf", "int", interval=UNIT),
    H("process_type", "str", choices=("default", "update")),
    H("grow_policy", "str", choices=("depthwise", "lossguide")),
    H("max_leaves", "int", interval=NON_NEGATIVE),
    H("max_bin", "int", interval=Interval(2)),
    H("num_parallel_tree", "int", interval=POSITIVE_INT),
    H("sampling_method", "str", choices=("uniform", "gradient_based")),
    H("predictor", "str", choices=("auto", "cpu_predictor", "gpu_predictor")),
    H("sample_type", "str", choices=("uniform", "weighted")),
    H("normalize_type", "str", choices=("tree", "forest")),
    H("rate_drop", "float", interval=UNIT),
    H("one_drop", "int", interval=UNIT),
    H("skip_drop", "float", interval=UNIT),
    H("lambda_bias", "float", interval=UNIT),
    H("feature_selector", "str", choices=("cyclic", "shuffle", "random", "greedy", "thrifty")),
    H("top_k", "int", interval=NON_NEGATIVE),
    H("tweedie_variance_power", "float", interval=Interval(1, 2, low_open=True, high_open=True)),
    H("huber_slope", "float", interval=Interval(0, low_open=True)),
    H("quantile_alpha", "float", interval=Interval(0, 1, low_open=True, high_open=True)),
    H("aft_loss_distribution", "str", choices=("normal", "logistic", "extreme")),
    H("aft_loss_distribution_scale", "float", interval=Interval(0, low_open=True)),
    H("base_score", "float"),
    H("eval_metric", "list"),
    H("seed", "int", 0),
    H("nthread", "int", interval=POSITIVE_INT),
    H("verbosity", "int", 1, Interval(0, 3)),
    H("csv_weights", "int", 0, UNIT),
    H("early_stopping_rounds", "int", interval=POSITIVE_INT),
    H("monotone_constraints", "str"),
    H("interaction_constraints", "str"),
    H("max_cat_to_onehot", "int", interval=POSITIVE_INT),
    H("deterministic_histogram", "str", choices=TRUE_FALSE),
    H("single_precision_histogram", "str", choices=TRUE_FALSE),
    H("save_model_on_termination", "str", choices=TRUE_FALSE),
    H("dsplit", "str", choices=("row", "col")),
    H("prob_buffer_row", "float"),
)

# Accepted for compatibility, but XGBoost 3.x no longer has them.
OBSOLETE = (
    "sketch_eps", "predictor", "lambda_bias", "deterministic_histogram",
    "single_precision_histogram", "dsplit", "prob_buffer_row",
)  # fmt: skip
# Consumed by this container (training loop, data reading), not by XGBoost.
CONTAINER_ONLY = ("num_round", "csv_weights", "early_stopping_rounds", "eval_metric", "save_model_on_termination")


@dataclass(frozen=True)
class XGBoostConfig:
    """Parsed hyperparameters, split into what the training loop and XGBoost need."""

    num_round: int
    params: dict[str, Any]
    eval_metrics: list[str] = field(default_factory=list)
    early_stopping_rounds: int | None = None
    csv_weights: bool = False
    notes: list[str] = field(default_factory=list)


def _check_metric(metric: str) -> None:
    # "error@0.7", "ndcg@5-", "tweedie-nloglik@1.5" are parameterised forms of known metrics.
    base = metric.split("@", 1)[0].rstrip("-")
    if base not in EVAL_METRICS:
        raise CustomerError(
            f"Hyperparameter 'eval_metric' has unsupported metric {metric!r}: "
            f"must be among {', '.join(EVAL_METRICS)}."
        )


def parse_hyperparameters(raw: Mapping[str, str], num_cpus: int = 1) -> XGBoostConfig:
    """Parse the job's string hyperparameters into an ``XGBoostConfig``."""
    values = parse(SPECS, raw)
    notes: list[str] = []
    objective = values["objective"]
    if objective.startswith("multi:") and "num_class" not in values:
        raise CustomerError(f"Hyperparameter 'num_class' is required when objective is '{objective}'.")
    if "num_class" in values and not objective.startswith("multi:"):
        # Harmless, and SDK examples do pass it: drop it rather than fail the job.
        del values["num_class"]
        notes.append(f"Hyperparameter 'num_class' is ignored: objective '{objective}' is not multi:*.")
    if objective in ("binary:logistic", "reg:logistic") and "base_score" in values and not 0 < values["base_score"] < 1:
        raise CustomerError(f"Hyperparameter 'base_score' must be in (0, 1) for objective '{objective}'.")
    metrics = values.get("eval_metric", [])
    for metric in metrics:
        _check_metric(metric)

    # Only what the user set (and the objective) goes to XGBoost: the documented
    # defaults equal XGBoost's own, and passing e.g. scale_pos_weight to a
    # multiclass objective would only make XGBoost warn that it is unused.
    params = {
        k: v
        for k, v in values.items()
        if (k in raw or k == "objective") and k not in CONTAINER_ONLY and k not in OBSOLETE
    }
    for name in OBSOLETE:
        if name in raw:
            notes.append(f"Hyperparameter '{name}' is not used by XGBoost 3.x; ignoring it.")
    if objective == "reg:linear":
        params["objective"] = "reg:squarederror"
        notes.append("Objective 'reg:linear' is the former name of 'reg:squarederror'; using the latter.")
    if params.get("tree_method") == "gpu_hist":
        params.update(tree_method="hist", device="cuda")
        notes.append("tree_method 'gpu_hist' is 'hist' on device 'cuda' in XGBoost 3.x.")
    params.setdefault("nthread", num_cpus)
    if metrics:
        params["eval_metric"] = metrics
    return XGBoostConfig(
        num_round=values["num_round"],
        params=params,
        eval_metrics=metrics,
        early_stopping_rounds=values.get("early_stopping_rounds"),
        csv_weights=bool(values["csv_weights"]),
        notes=notes,
    )
