"""The SageMaker control plane: every operation module, on one service.

Each area (training, tags, and later hosting, transform, tuning...) keeps
its operations in its own ``ops_<area>.py`` with a ``register(api,
services)`` function; this list is the one place that assembles them.
Input constraints (required members, enums, patterns, ranges) are checked
against botocore's model by :mod:`services.api.server` before any
operation runs.
"""

from __future__ import annotations

from services.api import (
    ops_hosting,
    ops_lineage,
    ops_monitoring,
    ops_processing,
    ops_registry,
    ops_tags,
    ops_training,
    ops_transform,
    ops_tuning,
)
from services.api.backends import SageMakerBackends
from services.api.server import AwsJsonService

OPERATION_MODULES = [ops_monitoring, ops_transform, ops_training, ops_tags, ops_registry, ops_processing, ops_hosting,
                     ops_tuning, ops_lineage]


def build_sagemaker_service(services: SageMakerBackends) -> AwsJsonService:
    """The ``SageMaker`` JSON 1.1 service over ``services``."""
    api = AwsJsonService("sagemaker", "SageMaker")
    for module in OPERATION_MODULES:
        module.register(api, services)
    return api
