"""Chain step 2: a retraining job ended -> evaluate the candidate beside the serving model.

Both models score the policy's holdout in batch transform jobs; a failed
training job ends the run (the endpoint is untouched).
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.retraining.service import RUN_PREFIX
from services.retraining.steps_train import evaluate_candidate
from services.training.service import DETAIL_TYPE


@handler("evaluate-retrained-model", OnEvent(detail_type=(DETAIL_TYPE,), detail={
    "TrainingJobName": [{"prefix": RUN_PREFIX}], "TrainingJobStatus": ["Completed", "Failed", "Stopped"]}),
         timeout_seconds=120)
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Start the evaluation transforms of a run whose training completed, or fail the run."""
    return await evaluate_candidate(deps, event.detail)


lambda_handler = make_lambda_handler("evaluate-retrained-model")
