"""One module per built-in algorithm for ``bench/builtins.py``.

Each module defines ``run_case() -> Case``: it generates a dataset with a
held-out split, times training and one inference batch through the
algorithm's own container code in-process (``containers/<name>/algorithm.py``)
and through the library it is built on used directly, and scores both models
and scikit-learn's closest estimator on the held-out split.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One row of the table."""

    algorithm: str
    dataset: str  # e.g. "10,000 x 20 dense, 2 classes"
    train_s: float  # our algorithm code, in-process
    baseline_train_s: float  # the underlying library used directly
    baseline: str  # what the baseline is, e.g. "torch SGD, 1 model"
    infer_s: float  # one batch through our serve hooks (decode -> predict -> encode)
    baseline_infer_s: float  # the same batch through the library directly
    metric: str  # e.g. "accuracy", "RMSE", "AUC", "ARI"
    quality: float  # our model on the held-out split
    sklearn: str  # scikit-learn's closest estimator
    sklearn_quality: float  # its score on the same split
