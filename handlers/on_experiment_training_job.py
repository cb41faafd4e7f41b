"""A training job changed -> its trial component follows it.

SageMaker records every training job as the trial component
``<job>-aws-training-job`` (in the trial of its ``ExperimentConfig``, when it
has one; lineage queries describe it to name the job behind a model); every
state change of the job refreshes it from the job's current description (so
events that arrive late or twice write the same state).
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.experiments.jobs import record_training_job
from services.training.service import DETAIL_TYPE


@handler("record-training-trial-component", OnEvent(detail_type=(DETAIL_TYPE,)))
async def handle(event: StateChangeEvent, deps: Deps) -> str:
    """Create or refresh the job's trial component; the name of the component."""
    if deps.experiments is None:
        raise RuntimeError("the experiments service is not wired into this handler's deps")
    job = await deps.training.describe_training_job(event.detail["TrainingJobName"])
    component = await record_training_job(deps.experiments, job.describe())
    return component.trial_component_name


lambda_handler = make_lambda_handler("record-training-trial-component")
