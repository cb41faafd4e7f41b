"""The two events of an execution, with SageMaker's detail-types and detail fields.

"SageMaker Model Building Pipeline Execution Status Change" carries
``currentPipelineExecutionStatus`` / ``previousPipelineExecutionStatus``,
the execution's start and end times and ARNs; "SageMaker Model Building
Pipeline Execution Step Status Change" carries the step's name, type,
statuses, times and its ``metadata`` (``{"trainingJob": {"arn": ...}}``).
Times are ISO-8601 text, as SageMaker's own pipeline events write them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.core.events import Publisher, publish_state_change
from services.pipelines.models import PipelineExecution, StepRun

EXECUTION_DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Status Change"
STEP_DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Step Status Change"


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _camel(value: Any) -> Any:
    """Keys with a lower-case first letter, all the way down (``TrainingJob.Arn`` -> ``trainingJob.arn``)."""
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:]): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def execution_detail(execution: PipelineExecution, previous: str | None) -> dict[str, Any]:
    """The execution status change's ``detail``."""
    detail: dict[str, Any] = {
        "pipelineArn": execution.pipeline_arn, "pipelineExecutionArn": execution.pipeline_execution_arn,
        "pipelineExecutionDisplayName": execution.pipeline_execution_display_name or execution.pipeline_execution_id,
        "currentPipelineExecutionStatus": execution.pipeline_execution_status.value,
        "previousPipelineExecutionStatus": previous,
        "executionStartTime": _iso(execution.creation_time), "executionEndTime": _iso(execution.end_time),
        "pipelineExecutionDescription": execution.pipeline_execution_description,
        "failureReason": execution.failure_reason,
    }
    return {k: v for k, v in detail.items() if v is not None}


def step_detail(execution: PipelineExecution, step: StepRun, previous: str | None) -> dict[str, Any]:
    """The step status change's ``detail``."""
    detail: dict[str, Any] = {
        "pipelineArn": execution.pipeline_arn, "pipelineExecutionArn": execution.pipeline_execution_arn,
        "stepName": step.step_name, "stepType": step.step_type, "stepDisplayName": step.step_display_name,
        "currentStepStatus": step.step_status.value, "previousStepStatus": previous,
        "stepStartTime": _iso(step.start_time), "stepEndTime": _iso(step.end_time),
        "metadata": _camel(step.metadata), "failureReason": step.failure_reason,
        "cacheHitResult": _camel(step.cache_hit_result), "attemptCount": step.attempt_count,
    }
    return {k: v for k, v in detail.items() if v is not None}


async def publish_changes(publisher: Publisher, before: PipelineExecution | None, after: PipelineExecution) -> None:
    """Publish every status change from ``before`` to ``after``: steps first, then the execution."""
    resources = [after.pipeline_arn, after.pipeline_execution_arn]
    for step in after.steps:
        old = before.step(step.step_name) if before is not None else None
        if old is None or old.step_status != step.step_status or old.attempt_count != step.attempt_count:
            previous = old.step_status.value if old is not None and old.attempt_count == step.attempt_count else None
            await publish_state_change(publisher, STEP_DETAIL_TYPE, step_detail(after, step, previous), resources,
                                       f"step {step.step_name} of {after.pipeline_execution_arn}")
    if before is None or before.pipeline_execution_status != after.pipeline_execution_status:
        previous = before.pipeline_execution_status.value if before is not None else None
        await publish_state_change(publisher, EXECUTION_DETAIL_TYPE, execution_detail(after, previous), resources,
                                   f"pipeline execution {after.pipeline_execution_arn}")
