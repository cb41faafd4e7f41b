"""State changes -> the lineage SageMaker records by itself (see ``services.lineage.recorder``).

One rule takes the state changes that lineage follows: training jobs, model
packages, endpoints and Headwater's retraining runs. An endpoint's change
is recorded only while it still describes the endpoint (in service on that
endpoint config): a late or redelivered one must not put back a deployment
the endpoint has since replaced. Every step is idempotent, so a retried
message records nothing twice.
"""

from __future__ import annotations

from typing import Any

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.core.exceptions import ResourceNotFound, ValidationException
from services.hosting.service import DETAIL_TYPE as ENDPOINT_CHANGE
from services.lineage.recorder import LineageRecorder
from services.registry.service import DETAIL_TYPE as PACKAGE_CHANGE
from services.retraining.service import DETAIL_TYPE as RUN_CHANGE
from services.training.service import DETAIL_TYPE as TRAINING_CHANGE


@handler("record-lineage", OnEvent(detail_type=(TRAINING_CHANGE, PACKAGE_CHANGE, ENDPOINT_CHANGE, RUN_CHANGE)),
         timeout_seconds=120)
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Record the lineage of the job, package, endpoint or retraining run the event describes."""
    assert deps.lineage is not None
    recorder = LineageRecorder(deps.lineage)
    if event.detail_type == TRAINING_CHANGE:
        return await recorder.training_job(event.detail)
    if event.detail_type == PACKAGE_CHANGE:
        return await recorder.model_package(event.detail)
    if event.detail_type == RUN_CHANGE:
        return await recorder.retraining_run(event.detail)
    return await _endpoint(recorder, event.detail, deps)


async def _endpoint(recorder: LineageRecorder, detail: dict[str, Any], deps: Deps) -> str | None:
    assert deps.hosting is not None
    if detail.get("EndpointStatus") != "InService":
        return None
    try:
        endpoint = await deps.hosting.describe_endpoint(detail["EndpointName"])
        if endpoint.endpoint_config_name != detail.get("EndpointConfigName"):
            return None  # a late event: the endpoint has moved on to another config
        config = await deps.hosting.describe_endpoint_config(endpoint.endpoint_config_name)
        models: dict[str, dict[str, Any]] = {}
        for variant in [*config.production_variants, *(config.shadow_production_variants or [])]:
            if variant.model_name and variant.model_name not in models:
                models[variant.model_name] = (await deps.hosting.describe_model(variant.model_name)).describe()
    except (ResourceNotFound, ValidationException):  # hosting's "does not exist", as SageMaker words it
        return None  # deleted since: nothing serves to record
    return await recorder.endpoint(endpoint.describe(), config.describe(), models)


lambda_handler = make_lambda_handler("record-lineage")
