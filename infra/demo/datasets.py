"""Generated datasets for the demo and the benchmarks.

A customer-churn table with the structure of real ones (tenure, charges,
contract type, support calls...) and a label that depends on them
non-linearly, so a trained model has something to find.
"""

from __future__ import annotations

import io

import numpy as np

CHURN_FEATURES = ["tenure_months", "monthly_charges", "total_charges", "contract", "support_calls",
                  "fiber", "senior", "paperless_billing", "products"]


def make_churn(rows: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: ``rows`` customers and whether each churned (0/1)."""
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 14.0, rows).clip(0, 72).round()
    contract = rng.choice([0, 1, 2], rows, p=[0.55, 0.25, 0.20])
    fiber = rng.random(rows) < 0.45
    senior = rng.random(rows) < 0.16
    paperless = rng.random(rows) < 0.6
    products = rng.integers(1, 6, rows)
    monthly = (20 + 8 * products + 25 * fiber + rng.normal(0, 6, rows)).clip(18, 120).round(2)
    total = (monthly * tenure * rng.uniform(0.9, 1.05, rows)).round(2)
    calls = rng.poisson(0.8 + 1.2 * (monthly > 80), rows)
    logit = (0.9 - 0.06 * tenure - 1.1 * contract + 0.8 * fiber + 0.45 * calls + 0.4 * senior
             + 0.3 * paperless + 0.015 * (monthly - 60) + 0.6 * (calls > 3) * fiber)
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    X = np.column_stack([tenure, monthly, total, contract, calls, fiber, senior, paperless, products]).astype(float)
    return X, y


def to_csv(X: np.ndarray, y: np.ndarray) -> bytes:
    """SageMaker built-in CSV: the label first, no header."""
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, X]), delimiter=",", fmt="%.10g")
    return buf.getvalue().encode()


def split(X: np.ndarray, y: np.ndarray, validation_fraction: float = 0.2,
          seed: int = 11) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A shuffled train/validation split."""
    idx = np.random.default_rng(seed).permutation(len(y))
    cut = int(len(y) * (1 - validation_fraction))
    return (X[idx[:cut]], y[idx[:cut]]), (X[idx[cut:]], y[idx[cut:]])


def make_churn_drifted(rows: int, seed: int = 23) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` from the world after a change: fiber prices rose by about 30 and a competitor
    now takes the customers who pay the most, whatever their tenure (the columns of :func:`make_churn`)."""
    rng = np.random.default_rng(seed)
    X, _ = make_churn(rows, seed)
    tenure, monthly, _total, contract, calls, fiber, senior, paperless, products = X.T
    monthly = (monthly + 30 * fiber + rng.normal(0, 4, rows)).clip(18, 160).round(2)
    total = (monthly * tenure * rng.uniform(0.9, 1.05, rows)).round(2)
    logit = -1.2 + 0.045 * (monthly - 90) + 0.9 * fiber - 0.5 * contract + 0.3 * calls - 0.01 * tenure
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    X = np.column_stack([tenure, monthly, total, contract, calls, fiber, senior, paperless, products]).astype(float)
    return X, y
