"""A training job changed -> its trial component follows it.

SageMaker records every training job as the trial component
``<job>-aws-training-job`` (in the trial of its ``ExperimentConfig``, when it
has one; lineage queries describe it to name the job behind a model). It is
written from the job's description the event carries (no read of the job),
at the changes that change it: the job's first, its stopping and its end;
the secondary statuses between return without a store call. A late or
redelivered event of an older state changes nothing.
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.experiments.jobs import record_training_job_change
from services.training.models import TrainingJob
from services.training.service import DETAIL_TYPE


@handler("record-training-trial-component", OnEvent(detail_type=(DETAIL_TYPE,)))
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Create or refresh the job's trial component; the name of the component, or ``None`` when this change
    records nothing."""
    if deps.experiments is None:
        raise RuntimeError("the experiments service is not wired into this handler's deps")
    # The detail is the job's Describe response with epoch-millisecond times: read back as the job it describes.
    job = TrainingJob.model_validate(event.detail).describe()
    component = await record_training_job_change(deps.experiments, job)
    return None if component is None else component.trial_component_name


lambda_handler = make_lambda_handler("record-training-trial-component")
