"""Inference for LDA: each document's ``topic_mixture``.

Reads word counts as ``text/csv``, ``application/json``,
``application/jsonlines`` or ``application/x-recordio-protobuf`` (dense or
sparse); answers in the same set with SageMaker's shapes:
``{"predictions": [{"topic_mixture": [...]}]}`` for JSON,
``{"topic_mixture": [...]}`` per line for JSON Lines, a ``topic_mixture``
label tensor per record for RecordIO-protobuf, one row per document for CSV.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from containers.common import recordio_serving
from containers.common.decoders import CSV, JSON, JSONLINES, RECORDIO_PROTOBUF, decode
from containers.common.serving import BadInput, InferenceHandler
from containers.lda import algorithm
from containers.lda.train import MODEL_FILE, load_model

TYPES = (CSV, JSON, JSONLINES, RECORDIO_PROTOBUF)


def model_fn(model_dir: str) -> algorithm.LDAModel:
    """The topics saved by training."""
    return load_model(str(Path(model_dir) / MODEL_FILE))


def input_fn(body: bytes, content_type: str) -> sp.csr_matrix:
    """Decode the request into a documents x vocabulary count matrix."""
    X = decode(body, content_type)
    return sp.csr_matrix(X, dtype=np.float64)


def predict_fn(X: sp.csr_matrix, model: algorithm.LDAModel) -> list[list[float]]:
    """Each document's topic mixture."""
    width = model.lam.shape[1]
    if X.shape[1] != width:
        raise BadInput(f"Each record needs {width} word counts (feature_dim); got shape {list(X.shape)}.")
    if not (np.isfinite(X.data).all() and (X.data >= 0).all()):
        raise BadInput("Word counts must be finite and non-negative.")
    return algorithm.infer(X, model).astype(np.float32).tolist()


def output_fn(mixtures: list[list[float]], accept: str) -> bytes | str:
    """Encode in the ``Accept`` type."""
    if accept == JSON:
        return json.dumps({"predictions": [{"topic_mixture": m} for m in mixtures]})
    if accept == JSONLINES:
        return "".join(json.dumps({"topic_mixture": m}) + "\n" for m in mixtures)
    if accept == CSV:
        return "".join(",".join(repr(v) for v in m) + "\n" for m in mixtures)
    return recordio_serving.encode_predictions([{"topic_mixture": m} for m in mixtures])


def handler() -> InferenceHandler:
    """The hooks for :func:`containers.common.model_server.serve`."""
    return InferenceHandler(model_fn=model_fn, input_fn=input_fn, predict_fn=predict_fn,
                            output_fn=output_fn, content_types=TYPES, accepts=TYPES, default_accept=JSON)
