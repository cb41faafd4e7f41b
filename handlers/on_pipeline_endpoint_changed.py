"""An endpoint a pipeline's Endpoint step deploys settled -> advance that execution.

An endpoint keeps the name its user gave it, so unlike a job its ARN does not
name the execution: the Endpoint step records which execution waits for the
endpoint before creating or updating it, and this handler reads that record
when the endpoint is ``InService`` or ``Failed``.
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.hosting.service import DETAIL_TYPE as ENDPOINT


@handler("advance-pipeline-on-endpoint", OnEvent(detail_type=(ENDPOINT,), detail={
    "EndpointStatus": ["InService", "Failed"]}), timeout_seconds=120)
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Advance the execution waiting for the endpoint, if one is."""
    if deps.pipelines is None:
        return None
    execution_id = await deps.pipelines.waiting_for_endpoint(str(event.detail.get("EndpointName", "")))
    if execution_id is None:
        return None
    execution = await deps.pipelines.advance(execution_id)
    return None if execution is None else execution.pipeline_execution_status.value


lambda_handler = make_lambda_handler("advance-pipeline-on-endpoint")
