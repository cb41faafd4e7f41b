"""A training job run with ``ExperimentConfig`` changed -> its trial component follows it.

SageMaker records such a job as the trial component ``<job>-aws-training-job``
in the config's trial; every state change of the job refreshes it from the
job's current description (so events that arrive late or twice write the
same state).
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.experiments.jobs import record_training_job
from services.training.service import DETAIL_TYPE


# Every training job's changes come here and a job without ExperimentConfig is passed over at once: a pattern
# on the config's members would need "$or" (any of them may name the job's experiment entity), which not
# every EventBridge the node provisions on evaluates.
@handler("record-training-trial-component", OnEvent(detail_type=(DETAIL_TYPE,)))
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Create or refresh the job's trial component; the name of the component, or None without a config."""
    if not event.detail.get("ExperimentConfig"):
        return None
    if deps.experiments is None:
        raise RuntimeError("the experiments service is not wired into this handler's deps")
    job = await deps.training.describe_training_job(event.detail["TrainingJobName"])
    component = await record_training_job(deps.experiments, job.describe())
    return None if component is None else component.trial_component_name


lambda_handler = make_lambda_handler("record-training-trial-component")
