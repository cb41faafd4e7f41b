"""``Search`` records of the kinds the job, registry and hosting services keep.

Each record is the resource's Describe response with its ``Tags``, as
SageMaker's ``SearchRecord`` has it; a ``Model`` record is a
``ModelDashboardModel``: the model, and the endpoints whose current config
serves it.
"""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.search_resources import RecordSource, with_tags


def search_sources(services: SageMakerBackends) -> dict[str, RecordSource]:
    """Sources of ``TrainingJob``, ``HyperParameterTuningJob``, ``ModelPackage``, ``ModelPackageGroup``,
    ``Endpoint`` and ``Model`` records."""
    training, tuning, registry, hosting = services.training, services.tuning, services.registry, services.hosting

    async def training_jobs() -> list[dict[str, Any]]:
        return [with_tags(training.describe(j), j.tags) for j in await training.store.list()]

    async def tuning_jobs() -> list[dict[str, Any]]:
        return [with_tags(tuning.describe(j), j.tags) for j in await tuning.store.list()]

    async def model_packages() -> list[dict[str, Any]]:
        return [with_tags(p.describe(), p.tags) for p in await registry.packages.list()]

    async def model_package_groups() -> list[dict[str, Any]]:
        return [with_tags(g.describe(), g.tags) for g in await registry.groups.list()]

    async def endpoints() -> list[dict[str, Any]]:
        return [with_tags(e.describe(), e.tags) for e in await hosting.endpoints.list()]

    async def models() -> list[dict[str, Any]]:
        serving: dict[str, list[dict[str, Any]]] = {}
        configs = {c.endpoint_config_name: c for c in await hosting.configs.list()}
        for e in await hosting.endpoints.list():
            config = configs.get(e.endpoint_config_name)
            for model in {v.model_name for v in (config.production_variants if config else []) if v.model_name}:
                serving.setdefault(model, []).append(e.summary())
        return [{"Model": with_tags(m.describe(), m.tags), "Endpoints": serving.get(m.model_name, [])}
                for m in await hosting.models.list()]

    return {"TrainingJob": training_jobs, "HyperParameterTuningJob": tuning_jobs, "ModelPackage": model_packages,
            "ModelPackageGroup": model_package_groups, "Endpoint": endpoints, "Model": models}
