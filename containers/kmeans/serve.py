"""Inference for K-Means: ``closest_cluster`` and ``distance_to_cluster`` of each record.

Reads ``text/csv``, ``application/json``, ``application/jsonlines`` and
``application/x-recordio-protobuf``; answers in the same set, with
SageMaker's shapes: ``{"predictions": [{"closest_cluster": 1.0,
"distance_to_cluster": 0.3}]}`` for JSON.
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
from containers.kmeans import algorithm
from containers.kmeans.train import MODEL_FILE

TYPES = (CSV, JSON, JSONLINES, RECORDIO_PROTOBUF)


def model_fn(model_dir: str) -> np.ndarray:
    """The centers saved by training."""
    return np.load(Path(model_dir) / MODEL_FILE)


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """Decode the request into rows."""
    X = decode(body, content_type)
    return X.toarray() if sp.issparse(X) else X


def predict_fn(X: np.ndarray, centers: np.ndarray) -> list[dict[str, float]]:
    """Each row's closest center and its distance."""
    if X.ndim != 2 or X.shape[1] != centers.shape[1]:
        raise BadInput(f"Each record needs {centers.shape[1]} features (feature_dim); got shape {list(X.shape)}.")
    if not np.isfinite(X).all():
        raise BadInput("Records must not contain NaN or infinite values.")
    closest, dist = algorithm.assign(X, centers)
    return [{"closest_cluster": float(c), "distance_to_cluster": float(d)} for c, d in zip(closest, dist)]


def output_fn(predictions: list[dict[str, float]], accept: str) -> bytes | str:
    """Encode in the ``Accept`` type."""
    if accept == JSON:
        return json.dumps({"predictions": predictions})
    if accept == JSONLINES:
        return "".join(json.dumps(p) + "\n" for p in predictions)
    if accept == CSV:
        return "".join(f"{int(p['closest_cluster'])},{p['distance_to_cluster']}\n" for p in predictions)
    return recordio_serving.encode_predictions(predictions)


def handler() -> InferenceHandler:
    """The hooks for :func:`containers.common.model_server.serve`."""
    return InferenceHandler(model_fn=model_fn, input_fn=input_fn, predict_fn=predict_fn,
                            output_fn=output_fn, content_types=TYPES, accepts=TYPES, default_accept=JSON,
                            multi_model=True)
