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

from containers.common.score_serving import scoring_handler
from containers.common.serving import InferenceHandler
from containers.factorization_machines.model import FactorizationMachine


def handler() -> InferenceHandler:
    """The hooks for :func:`containers.common.model_server.serve` (shapes: :mod:`containers.common.score_serving`)."""
    return scoring_handler(FactorizationMachine.load)
