"""Chain step 3: both evaluations ended -> register the candidate with its metrics; approve by policy.

The new version carries the candidate's model-quality report as
``ModelMetrics`` and the serving model's figures in its metadata; the
policy approves it when the objective improved enough, else it waits for
``headwater approve`` (or ``UpdateModelPackage``).
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.retraining.service import RUN_PREFIX
from services.retraining.steps_train import register_candidate
from services.transform.service import DETAIL_TYPE


@handler("register-retrained-model", OnEvent(detail_type=(DETAIL_TYPE,), detail={
    "TransformJobName": [{"prefix": RUN_PREFIX}], "TransformJobStatus": ["Completed", "Failed", "Stopped"]}),
         timeout_seconds=120)
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Score both models and register the candidate (once both transforms are done)."""
    return await register_candidate(deps, event.detail)


lambda_handler = make_lambda_handler("register-retrained-model")
