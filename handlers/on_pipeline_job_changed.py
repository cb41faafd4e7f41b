"""A job a pipeline started ended -> advance its execution.

Every job a pipeline execution starts is named ``pipelines-<execution>-...``
(as SageMaker names them), so one rule on the jobs' state-change events
filtered by that name in their ARN reaches this handler, whatever the job's
kind; the execution's next steps start from here.
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.pipelines.engine import execution_of
from services.processing.service import DETAIL_TYPE as PROCESSING
from services.training.service import DETAIL_TYPE as TRAINING
from services.transform.service import DETAIL_TYPE as TRANSFORM
from services.tuning.service import DETAIL_TYPE as TUNING

_ENDED = ("Completed", "Failed", "Stopped")


@handler("advance-pipeline-on-job", OnEvent(detail_type=(TRAINING, PROCESSING, TRANSFORM, TUNING),
                                            resources=({"wildcard": "arn:aws*:sagemaker:*:*:*/pipelines-*"},)),
         timeout_seconds=120)
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Advance the execution of the job that ended; a job still running changes nothing."""
    if deps.pipelines is None:
        return None
    if not any(k.endswith("JobStatus") and v in _ENDED for k, v in event.detail.items()):
        return None
    execution_id = next((e for e in (execution_of(r) for r in event.resources) if e), None)
    if execution_id is None:
        return None
    execution = await deps.pipelines.advance(execution_id)
    return None if execution is None else execution.pipeline_execution_status.value


lambda_handler = make_lambda_handler("advance-pipeline-on-job")
