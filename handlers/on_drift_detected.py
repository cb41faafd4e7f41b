"""Chain step 1: violations found on an endpoint -> retrain it.

A monitoring execution that ends ``CompletedWithViolations`` on an endpoint
with a retraining policy starts a run: the serving version's training job
again, on its training data plus the labelled captured data (see
``services/retraining``). A run in flight or the cool-down suppresses it.
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.monitoring.service import EXECUTION_DETAIL_TYPE
from services.retraining.steps_train import start_retraining


@handler("retrain-on-drift", OnEvent(detail_type=(EXECUTION_DETAIL_TYPE,),
                                     detail={"MonitoringExecutionStatus": ["CompletedWithViolations"]}),
         timeout_seconds=120)
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Start a retraining run for the drifted endpoint (debounced, idempotent)."""
    return await start_retraining(deps, event.detail)


lambda_handler = make_lambda_handler("retrain-on-drift")
