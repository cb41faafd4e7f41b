"""A pipeline execution started, was asked to stop, or was retried -> advance it.

The control plane only records the change and publishes it; this handler,
fed by that event, starts the first steps (or stops the running jobs), so
the work survives a node that stops right after the request.
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.pipelines.events import EXECUTION_DETAIL_TYPE


@handler("advance-pipeline-execution", OnEvent(detail_type=(EXECUTION_DETAIL_TYPE,), detail={
    "currentPipelineExecutionStatus": ["Executing", "Stopping"]}), timeout_seconds=120)
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Advance the execution the event is about."""
    if deps.pipelines is None:
        return None
    execution_id = str(event.detail.get("pipelineExecutionArn", "")).rsplit("/", 1)[-1]
    execution = await deps.pipelines.advance(execution_id)
    return None if execution is None else execution.pipeline_execution_status.value


lambda_handler = make_lambda_handler("advance-pipeline-execution")
