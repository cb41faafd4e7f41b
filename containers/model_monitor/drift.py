"""Distances between a baseline distribution and the current window's.

``baseline_drift_check`` uses the distance SageMaker documents for
``comparison_method``: ``linf_simple`` is the largest absolute difference
between the two cumulative distribution functions (numeric features) or the
two category frequency vectors (categorical ones); ``linf_robust`` corrects it
for small samples, as the two-sample Kolmogorov-Smirnov test does. The
formula is Deequ's ``Distance`` (the library SageMaker's analyzer runs on):
``linf_robust = max(0, linf_simple - 1.8 * sqrt((n + m) / (n * m)))``.
``ChiSquared`` for categorical features is Deequ's too: a goodness-of-fit
test of the current counts against the baseline's proportions, with small
categories regrouped first, whose p-value is the reported value.

PSI and the KS test's p-value are reported beside them, never instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from containers.model_monitor.kll import KllSketch

ROBUST = "Robust"
SIMPLE = "Simple"
_PSI_FLOOR = 1e-4  # keeps empty bins from making PSI infinite
_PSI_BINS = 10


def linf_robust(linf_simple: float, n: float, m: float) -> float:
    """Deequ's small-sample correction of the L-infinity distance."""
    if n <= 0 or m <= 0:
        return 0.0
    return max(0.0, linf_simple - 1.8 * math.sqrt((n + m) / (n * m)))


def select(linf_simple: float, n: float, m: float, method: str) -> float:
    """The distance ``comparison_method`` asks for (``Robust`` by default)."""
    return linf_simple if method == SIMPLE else linf_robust(linf_simple, n, m)


@dataclass(frozen=True)
class NumericDrift:
    """Every distance between two numeric distributions."""

    linf_simple: float
    linf_robust: float
    psi: float
    ks_statistic: float
    ks_p_value: float
    n_baseline: int
    n_current: int


def numeric_drift(baseline: KllSketch, current: KllSketch) -> NumericDrift:
    """Compare two sketches on the union of their retained items (Deequ's rank maps)."""
    b_items, _ = baseline.items_and_weights()
    c_items, _ = current.items_and_weights()
    keys = np.union1d(b_items, c_items)
    n, m = baseline.n, current.n
    simple = float(np.max(np.abs(baseline.cdf(keys) - current.cdf(keys)))) if len(keys) else 0.0
    # KS: the statistic is linf_simple; the p-value is scipy's asymptotic
    # two-sample one (Kolmogorov distribution at the effective sample size).
    effective = round(n * m / (n + m)) if n and m else 0
    p_value = float(np.clip(stats.kstwo.sf(simple, effective), 0.0, 1.0)) if effective else 1.0
    return NumericDrift(
        linf_simple=simple,
        linf_robust=linf_robust(simple, n, m),
        psi=numeric_psi(baseline, current),
        ks_statistic=simple,
        ks_p_value=p_value,
        n_baseline=n,
        n_current=m,
    )


def numeric_psi(baseline: KllSketch, current: KllSketch) -> float:
    """Population stability index over the baseline's deciles."""
    edges = np.unique(baseline.quantiles(np.arange(1, _PSI_BINS) / _PSI_BINS))
    edges = edges[~np.isnan(edges)]
    points = np.concatenate([edges, [np.inf]])
    expected = np.diff(np.concatenate([[0.0], baseline.cdf(points)]))
    actual = np.diff(np.concatenate([[0.0], current.cdf(points)]))
    return psi(expected, actual)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two proportion vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=float), _PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), _PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class CategoricalDrift:
    """Every distance between two categorical distributions."""

    linf_simple: float
    linf_robust: float
    psi: float
    chi_square_statistic: float
    chi_square_p_value: float
    n_baseline: int
    n_current: int


def categorical_drift(baseline: Mapping[str, int], current: Mapping[str, int]) -> CategoricalDrift:
    """Compare two category -> count maps."""
    n, m = sum(baseline.values()), sum(current.values())
    keys = sorted(set(baseline) | set(current))
    b = np.array([baseline.get(k, 0) / n if n else 0.0 for k in keys])
    c = np.array([current.get(k, 0) / m if m else 0.0 for k in keys])
    simple = float(np.max(np.abs(b - c))) if keys else 0.0
    statistic, p_value = chi_square(current, baseline)
    return CategoricalDrift(
        linf_simple=simple,
        linf_robust=linf_robust(simple, n, m),
        psi=psi(b, c),
        chi_square_statistic=statistic,
        chi_square_p_value=p_value,
        n_baseline=n,
        n_current=m,
    )


def chi_square(sample: Mapping[str, int], expected: Mapping[str, int]) -> tuple[float, float]:
    """Deequ's categorical chi-square test: (statistic, p-value), NaN when untestable."""
    sample_sum = float(sum(v for k, v in sample.items() if k in expected))
    expected_sum = float(sum(expected.values()))
    if not expected_sum or not sample_sum:
        return math.nan, math.nan
    exp = {k: v / expected_sum * sample_sum for k, v in expected.items()}
    obs = {k: float(sample.get(k, 0)) for k in exp}
    obs, exp = _regroup(obs, exp)
    if len(exp) < 2:
        return math.nan, math.nan
    keys = list(exp)
    result = stats.chisquare([obs[k] for k in keys], [exp[k] for k in keys])
    return float(result.statistic), float(result.pvalue)


def _regroup(obs: dict[str, float], exp: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Merge the smallest expected categories until the test's assumptions hold.

    2 categories: every expected count >= 10 (Cochran); more: at most 20% of
    them below 5 (Yates, Moore & McCabe), as Deequ does.
    """
    while len(exp) >= 2:
        if len(exp) > 2:
            floor, allowed = 5.0, int(0.2 * len(exp))
        else:
            floor, allowed = 10.0, 0
        if sum(1 for v in exp.values() if v < floor) <= allowed:
            break
        smallest = min(exp, key=exp.__getitem__)
        moved_exp, moved_obs = exp.pop(smallest), obs.pop(smallest, 0.0)
        second = min(exp, key=exp.__getitem__)
        exp[second] += moved_exp
        obs[second] = obs.get(second, 0.0) + moved_obs
    return obs, exp
