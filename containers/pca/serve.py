"""Inference for PCA: each record's ``projection`` onto the components.

Reads ``text/csv``, ``application/json``, ``application/jsonlines`` and
``application/x-recordio-protobuf``; answers in the same set with
SageMaker's shapes: ``{"projections": [{"projection": [...]}]}`` for JSON,
``{"projection": [...]}`` per line for JSON Lines, a ``projection`` label
tensor per record for RecordIO-protobuf, one comma-separated row per
record for CSV.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from containers.common import recordio_serving
from containers.common.decoders import CSV, JSON, JSONLINES, RECORDIO_PROTOBUF, decode
from containers.common.serving import BadInput, InferenceHandler
from containers.pca.algorithm import PCAModel
from containers.pca.train import MODEL_FILE

TYPES = (CSV, JSON, JSONLINES, RECORDIO_PROTOBUF)


def model_fn(model_dir: str) -> PCAModel:
    """The components saved by training."""
    with np.load(Path(model_dir) / MODEL_FILE) as saved:
        return PCAModel(v=saved["v"], s=saved["s"], mean=saved["mean"])


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """Decode the request into rows."""
    X = decode(body, content_type)
    return X.toarray() if sp.issparse(X) else X


def predict_fn(X: np.ndarray, model: PCAModel) -> list[list[float]]:
    """Each row's projection."""
    width = model.v.shape[0]
    if X.ndim != 2 or X.shape[1] != width:
        raise BadInput(f"Each record needs {width} features (feature_dim); got shape {list(X.shape)}.")
    if not np.isfinite(X).all():
        raise BadInput("Records must not contain NaN or infinite values.")
    return model.project(X).astype(np.float32).tolist()


def output_fn(projections: list[list[float]], accept: str) -> bytes | str:
    """Encode in the ``Accept`` type."""
    if accept == JSON:
        return json.dumps({"projections": [{"projection": p} for p in projections]})
    if accept == JSONLINES:
        return "".join(json.dumps({"projection": p}) + "\n" for p in projections)
    if accept == CSV:
        return "".join(",".join(repr(v) for v in p) + "\n" for p in projections)
    return recordio_serving.encode_predictions([{"projection": p} for p in projections])


def handler() -> InferenceHandler:
    """The hooks for :func:`containers.common.model_server.serve`."""
    return InferenceHandler(model_fn=model_fn, input_fn=input_fn, predict_fn=predict_fn,
                            output_fn=output_fn, content_types=TYPES, accepts=TYPES, default_accept=JSON)
