"""Inference for Random Cut Forest: the anomaly ``score`` of each record.

Reads ``text/csv``, ``application/json``, ``application/jsonlines`` and
``application/x-recordio-protobuf``; answers in the same set, with
SageMaker's shapes: ``{"scores": [{"score": 1.25}]}`` for JSON,
``{"score": 1.25}`` per line for JSON Lines, one score per line for CSV and
a ``score`` tensor per record for RecordIO-protobuf.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from containers.common import recordio_serving
from containers.common.decoders import CSV, JSON, JSONLINES, RECORDIO_PROTOBUF, decode
from containers.common.serving import BadInput, InferenceHandler
from containers.randomcutforest import algorithm
from containers.randomcutforest.train import MODEL_FILE

TYPES = (CSV, JSON, JSONLINES, RECORDIO_PROTOBUF)


def model_fn(model_dir: str) -> algorithm.Forest:
    """The forest saved by training."""
    with np.load(Path(model_dir) / MODEL_FILE) as arrays:
        return algorithm.Forest.from_arrays(dict(arrays))


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """Decode the request into rows."""
    X = decode(body, content_type)
    return X.toarray() if sp.issparse(X) else X


def predict_fn(X: np.ndarray, forest: algorithm.Forest) -> list[dict[str, float]]:
    """Each row's anomaly score."""
    if X.ndim != 2 or X.shape[1] != forest.feature_dim:
        raise BadInput(f"Each record needs {forest.feature_dim} features (feature_dim); got shape {list(X.shape)}.")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if len(bad):
        raise BadInput(f"Record {int(bad[0]) + 1} has a NaN or infinite value; Random Cut Forest needs numbers.")
    return [{"score": float(s)} for s in algorithm.score(forest, X)]


def output_fn(predictions: list[dict[str, float]], accept: str) -> bytes | str:
    """Encode in the ``Accept`` type."""
    if accept == JSON:
        return json.dumps({"scores": predictions})
    if accept == JSONLINES:
        return "".join(json.dumps(p) + "\n" for p in predictions)
    if accept == CSV:
        return "".join(f"{p['score']}\n" for p in predictions)
    return recordio_serving.encode_predictions(predictions)


def handler() -> InferenceHandler:
    """The hooks for :func:`containers.common.model_server.serve`."""
    return InferenceHandler(model_fn=model_fn, input_fn=input_fn, predict_fn=predict_fn,
                            output_fn=output_fn, content_types=TYPES, accepts=TYPES, default_accept=JSON)
