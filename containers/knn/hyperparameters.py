"""Hyperparameters of the built-in k-NN algorithm, as SageMaker documents them.

Required: ``feature_dim``, ``k``, ``predictor_type`` (``classifier`` /
``regressor``), ``sample_size``. Optional: ``dimension_reduction_type``
(``sign`` / ``fjlt``, none by default) with ``dimension_reduction_target``
(required then, ``0 < target < feature_dim``), ``index_type``
(``faiss.Flat`` default, ``faiss.IVFFlat``, ``faiss.IVFPQ``),
``index_metric`` (``L2`` default, ``INNER_PRODUCT``, ``COSINE``; IVFPQ takes
L2 only), ``faiss_index_ivf_nlists`` (``auto`` or a positive integer),
``faiss_index_pq_m`` (one of FAISS's sub-quantizer counts),
``mini_batch_size`` (5000).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from containers.common.errors import CustomerError
from containers.common.hyperparameters import Hyperparameter as H
from containers.common.hyperparameters import Interval, parse

PREDICTOR_TYPES = ("classifier", "regressor")
REDUCTIONS = ("sign", "fjlt")
INDEX_TYPES = ("faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ")
METRICS = ("L2", "INNER_PRODUCT", "COSINE")
PQ_M = ("1", "2", "3", "4", "8", "12", "16", "20", "24", "28", "32", "40", "48", "56", "64", "96")
SPECS: tuple[H, ...] = (
    H("feature_dim", "int", interval=Interval(1), required=True),
    H("k", "int", interval=Interval(1), required=True),
    H("predictor_type", "str", choices=PREDICTOR_TYPES, required=True),
    H("sample_size", "int", interval=Interval(1), required=True),
    H("dimension_reduction_type", "str", choices=REDUCTIONS),
    H("dimension_reduction_target", "int", interval=Interval(1)),
    H("index_type", "str", "faiss.Flat", choices=INDEX_TYPES),
    H("index_metric", "str", "L2", choices=METRICS),
    H("faiss_index_ivf_nlists", "str", "auto"),
    H("faiss_index_pq_m", "str", choices=PQ_M),
    H("mini_batch_size", "int", 5000, Interval(1)),
)


@dataclass(frozen=True)
class KNNConfig:
    """Parsed k-NN hyperparameters."""

    feature_dim: int
    k: int
    predictor_type: str
    sample_size: int
    dimension_reduction_type: str | None
    dimension_reduction_target: int | None
    index_type: str
    index_metric: str
    faiss_index_ivf_nlists: int | None  # None: auto, sqrt(sample_size)
    faiss_index_pq_m: int | None
    mini_batch_size: int


def _error(name: str, raw: Mapping[str, str], why: str) -> CustomerError:
    return CustomerError(f"Hyperparameter '{name}' has invalid value {raw.get(name)!r}: {why}.")


def _nlists(raw: Mapping[str, str], text: str) -> int | None:
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value < 1 or value != float(text):
        raise _error("faiss_index_ivf_nlists", raw, "must be 'auto' or an integer >= 1")
    return value


def parse_hyperparameters(raw: Mapping[str, str]) -> KNNConfig:
    """Parse the job's string hyperparameters; unknown, missing or out-of-range ones are named."""
    v = parse(SPECS, raw)
    reduction, target = v.get("dimension_reduction_type"), v.get("dimension_reduction_target")
    if reduction is not None and target is None:
        raise CustomerError("Hyperparameter 'dimension_reduction_target' is required when "
                            "'dimension_reduction_type' is set.")
    if target is not None and reduction is None:
        raise CustomerError("Hyperparameter 'dimension_reduction_target' needs 'dimension_reduction_type' "
                            "(sign or fjlt).")
    if target is not None and target >= v["feature_dim"]:
        raise _error("dimension_reduction_target", raw, f"must be less than feature_dim ({v['feature_dim']})")
    if v["index_type"] == "faiss.IVFPQ" and v["index_metric"] != "L2":
        raise _error("index_metric", raw, "faiss.IVFPQ supports L2 only")
    if v["k"] > v["sample_size"]:
        raise _error("k", raw, f"must not exceed sample_size ({v['sample_size']})")
    pq_m = v.get("faiss_index_pq_m")
    return KNNConfig(
        feature_dim=v["feature_dim"], k=v["k"], predictor_type=v["predictor_type"], sample_size=v["sample_size"],
        dimension_reduction_type=reduction, dimension_reduction_target=target, index_type=v["index_type"],
        index_metric=v["index_metric"], faiss_index_ivf_nlists=_nlists(raw, v["faiss_index_ivf_nlists"]),
        faiss_index_pq_m=int(pq_m) if pq_m is not None else None, mini_batch_size=v["mini_batch_size"])
