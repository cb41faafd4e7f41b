"""Inference for k-NN: each record's ``predicted_label``, and its neighbors on request.

Reads ``text/csv``, ``application/json``, ``application/jsonlines`` and
``application/x-recordio-protobuf``; answers in the same set with
SageMaker's shapes: ``{"predictions": [{"predicted_label": 0.0}]}`` for
JSON. With ``Accept: application/json; verbose=true`` (or the same
parameter on JSON Lines / RecordIO-protobuf) each prediction also carries
``distances`` (closest first) and the neighbors' ``labels`` in that order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from containers.common import recordio_serving
from containers.common.decoders import CSV, JSON, JSONLINES, RECORDIO_PROTOBUF, decode
from containers.common.serving import BadInput, InferenceHandler, media_type
from containers.knn import algorithm
from containers.knn.train import MODEL_FILE, load_index

TYPES = (CSV, JSON, JSONLINES, RECORDIO_PROTOBUF)


def model_fn(model_dir: str) -> algorithm.KNNIndex:
    """The index saved by training."""
    return load_index(str(Path(model_dir) / MODEL_FILE))


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """Decode the request into rows."""
    X = decode(body, content_type)
    return X.toarray() if sp.issparse(X) else X


def predict_fn(X: np.ndarray, index: algorithm.KNNIndex) -> list[dict[str, Any]]:
    """Each row's predicted label, neighbor distances and neighbor labels."""
    if X.ndim != 2 or X.shape[1] != index.feature_dim:
        raise BadInput(f"Each record needs {index.feature_dim} features (feature_dim); got shape {list(X.shape)}.")
    if not np.isfinite(X).all():
        raise BadInput("Records must not contain NaN or infinite values.")
    predicted, distances, labels = algorithm.predict(index, X)
    return [{"predicted_label": float(p), "distances": d.astype(float).tolist(), "labels": lab.astype(float).tolist()}
            for p, d, lab in zip(predicted, distances, labels)]


def _verbose(accept: str) -> bool:
    for param in accept.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "verbose":
            return value.strip().strip('"').lower() == "true"
    return False


def output_fn(predictions: list[dict[str, Any]], accept: str) -> tuple[bytes | str, str]:
    """Encode in the ``Accept`` type; ``verbose=true`` keeps distances and labels."""
    media = media_type(accept)
    rows = predictions if _verbose(accept) else [{"predicted_label": p["predicted_label"]} for p in predictions]
    if media == JSON:
        return json.dumps({"predictions": rows}), media
    if media == JSONLINES:
        return "".join(json.dumps(r) + "\n" for r in rows), media
    if media == CSV:
        return "".join(f"{r['predicted_label']!r}\n" for r in rows), media
    return recordio_serving.encode_predictions(rows), media


def handler() -> InferenceHandler:
    """The hooks for :func:`containers.common.model_server.serve`."""
    return InferenceHandler(model_fn=model_fn, input_fn=input_fn, predict_fn=predict_fn, output_fn=output_fn,
                            content_types=TYPES, accepts=TYPES, default_accept=JSON, accept_parameters=True)
