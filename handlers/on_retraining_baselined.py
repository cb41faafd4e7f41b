"""Chain step 5b: a run's baselining job ended -> the monitoring schedule uses the new baseline."""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.processing.service import DETAIL_TYPE
from services.retraining.service import RUN_PREFIX
from services.retraining.steps_deploy import apply_baseline


@handler("apply-retraining-baseline", OnEvent(detail_type=(DETAIL_TYPE,), detail={
    "ProcessingJobName": [{"prefix": RUN_PREFIX}], "ProcessingJobStatus": ["Completed", "Failed", "Stopped"]}))
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Rebaseline the schedule from the run's baselining output."""
    return await apply_baseline(deps, event.detail)


lambda_handler = make_lambda_handler("apply-retraining-baseline")
