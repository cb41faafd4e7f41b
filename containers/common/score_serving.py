"""Serving for built-ins that answer a ``score`` (and ``predicted_label``) per record.

Linear Learner and Factorization Machines share SageMaker's response shapes:
JSON ``{"predictions": [{"score": 0.8, "predicted_label": 1}]}``, one such
object per line in JSON Lines, RecordIO-protobuf records with ``score`` and
``predicted_label`` in their label map, and CSV lines of the score value(s)
then the label (classifiers). Requests may be dense or sparse; sparse ones
are scored without densifying them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from containers.common import recordio_serving
from containers.common.decoders import CSV, JSON, JSONLINES, RECORDIO_PROTOBUF, decode
from containers.common.serving import BadInput, InferenceHandler

TYPES = (CSV, JSON, JSONLINES, RECORDIO_PROTOBUF)
Prediction = dict[str, Any]


class ScoringModel(Protocol):
    """What a scoring built-in's model offers its server."""

    feature_dim: int

    def predictions(self, X: np.ndarray | sp.csr_matrix) -> list[Prediction]:
        """One ``{"score": ..., "predicted_label": ...}`` per row."""
        ...


def input_fn(body: bytes, content_type: str) -> np.ndarray | sp.csr_matrix:
    """Decode the request into rows (sparse RecordIO stays sparse)."""
    return decode(body, content_type)


def predict_fn(X: np.ndarray | sp.csr_matrix, model: ScoringModel) -> list[Prediction]:
    """Each row's score (and label); wrong widths and non-finite values are the caller's error."""
    if X.ndim != 2 or X.shape[1] != model.feature_dim:
        raise BadInput(f"Each record needs {model.feature_dim} features (feature_dim); got shape {list(X.shape)}.")
    values = X.data if sp.issparse(X) else X
    if not np.isfinite(values).all():
        raise BadInput("Records must not contain NaN or infinite values.")
    return model.predictions(X)


def _csv_line(p: Prediction) -> str:
    scores = p["score"] if isinstance(p["score"], list) else [p["score"]]
    cells = [repr(float(s)) for s in scores] + ([str(p["predicted_label"])] if "predicted_label" in p else [])
    return ",".join(cells) + "\n"


def output_fn(predictions: list[Prediction], accept: str) -> bytes | str:
    """Encode in the ``Accept`` type."""
    if accept == JSON:
        return json.dumps({"predictions": predictions})
    if accept == JSONLINES:
        return "".join(json.dumps(p) + "\n" for p in predictions)
    if accept == CSV:
        return "".join(_csv_line(p) for p in predictions)
    return recordio_serving.encode_predictions(predictions)


def scoring_handler(load: Callable[[Path], ScoringModel]) -> InferenceHandler:
    """The hooks for :func:`containers.common.model_server.serve`, over a model ``load(model_dir)`` returns."""
    return InferenceHandler(model_fn=lambda model_dir: load(Path(model_dir)), input_fn=input_fn,
                            predict_fn=predict_fn, output_fn=output_fn, content_types=TYPES, accepts=TYPES,
                            default_accept=JSON)
