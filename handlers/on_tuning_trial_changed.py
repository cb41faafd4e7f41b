"""A tuning job's trial ended -> wake the tuning job's orchestrator.

Every trial is a training job whose ``TuningJobArn`` names its tuning job,
so one rule on the "SageMaker Training Job State Change" events that carry
one and a terminal status reaches this handler. A trial that ended lets the orchestrator start the
next one at once, instead of at its next sweep.
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.training.service import DETAIL_TYPE as TRAINING
from services.tuning.wakeups import tuning_job_of


# Only a trial's end changes what the orchestrator does next (a running trial's intermediate values come from its
# logs, not from events), so the rule leaves the other transitions out: fewer deliveries on a busy node.
@handler("advance-tuning-on-trial", OnEvent(detail_type=(TRAINING,), detail={
    "TuningJobArn": [{"exists": True}], "TrainingJobStatus": ["Completed", "Failed", "Stopped"]}))
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Wake the orchestrator of the trial's tuning job when it runs in this process (else its sweep catches up)."""
    if deps.tuning is None:
        return None
    name = tuning_job_of(event.detail)
    if name is None or not deps.tuning.wakeups.wake(name):
        return None
    return name


lambda_handler = make_lambda_handler("advance-tuning-on-trial")
