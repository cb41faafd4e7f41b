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
    ops_experiments,
    ops_hosting,
    ops_lineage,
    ops_monitoring,
    ops_pipelines,
    ops_processing,
    ops_registry,
    ops_search,
    ops_tags,
    ops_training,
    ops_transform,
    ops_tuning,
    search_records,
)
from services.api.backends import SageMakerBackends
from services.api.search_resources import SearchableResources
from services.api.server import AwsJsonService

OPERATION_MODULES = [ops_monitoring, ops_transform, ops_training, ops_tags, ops_registry, ops_processing, ops_hosting,
                     ops_tuning, ops_lineage, ops_experiments, ops_pipelines]
# Modules whose search_sources(services) name the records Search finds, by Resource.
SEARCH_SOURCE_MODULES = [search_records, ops_experiments, ops_pipelines]


def build_sagemaker_service(services: SageMakerBackends) -> AwsJsonService:
    """The ``SageMaker`` JSON 1.1 service over ``services``."""
    api = AwsJsonService("sagemaker", "SageMaker")
    for module in OPERATION_MODULES:
        module.register(api, services)
    resources = SearchableResources()
    for source_module in SEARCH_SOURCE_MODULES:
        for resource, source in source_module.search_sources(services).items():
            resources.add(resource, source)
    ops_search.register(api, resources)
    return api
