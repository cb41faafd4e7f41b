"""Inference for Factorization Machines, with SageMaker's response shapes.

Reads ``text/csv``, ``application/json``, ``application/jsonlines`` and
``application/x-recordio-protobuf`` (dense or sparse records); answers in
the ``Accept`` type (JSON by default):

* binary classifier: ``{"predictions": [{"score": 0.8, "predicted_label": 1}]}``
* regressor: ``{"predictions": [{"score": 3.1}]}``

JSON Lines carries one such object per line; RecordIO-protobuf one record
per prediction with ``score`` and ``predicted_label`` in its label map;
CSV one line per record: ``score``, then ``predicted_label`` for a binary
classifier. Sparse requests are scored without densifying them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from containers.common import recordio_serving
from containers.common.decoders import CSV, JSON, JSONLINES, RECORDIO_PROTOBUF, decode
from containers.common.serving import BadInput, InferenceHandler
from containers.factorization_machines.model import FactorizationMachine

TYPES = (CSV, JSON, JSONLINES, RECORDIO_PROTOBUF)
Prediction = dict[str, Any]


def model_fn(model_dir: str) -> FactorizationMachine:
    """The model saved by training."""
    return FactorizationMachine.load(Path(model_dir))


def input_fn(body: bytes, content_type: str) -> np.ndarray | sp.csr_matrix:
    """Decode the request into rows (sparse RecordIO stays sparse)."""
    return decode(body, content_type)


def predict_fn(X: np.ndarray | sp.csr_matrix, model: FactorizationMachine) -> list[Prediction]:
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


def handler() -> InferenceHandler:
    """The hooks for :func:`containers.common.serving.serve`."""
    return InferenceHandler(model_fn=model_fn, input_fn=input_fn, predict_fn=predict_fn,
                            output_fn=output_fn, content_types=TYPES, accepts=TYPES, default_accept=JSON)
