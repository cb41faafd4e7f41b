"""``SelectiveExecutionConfig``: run chosen steps with the others' outputs taken from a source execution.

Checked at ``StartPipelineExecution``, as SageMaker does: every selected step is a step of the pipeline;
a step that lies on a path between two selected steps is selected too; and the steps the selection reads
(its upstream steps, transitively) that are not selected succeeded in the source execution, which is an
execution of the same pipeline that ended ``Succeeded`` or ``Failed`` (and is required when there are such
steps). Those steps enter the new execution as they ended in the source (``Succeeded``, their properties
and ``Metadata``) with a ``SelectiveExecutionResult`` naming it; the steps after the selection never start.
"""

from __future__ import annotations

from typing import Any

from services.core.exceptions import ValidationException
from services.pipelines.definition import Definition
from services.pipelines.models import ExecutionStatus, PipelineExecution, StepRun, StepStatus


def selected_names(config: dict[str, Any], definition: Definition) -> list[str]:
    """The ``SelectedSteps`` by name; ``ValidationException`` for a step the pipeline does not have, or for a
    step lying between two selected steps and not selected itself."""
    names = [str(s.get("StepName", "")) for s in config.get("SelectedSteps") or []]
    if not names:
        raise ValidationException("SelectiveExecutionConfig.SelectedSteps must name at least one step")
    unknown = [n for n in names if n not in definition.steps]
    if unknown:
        raise ValidationException(f"SelectiveExecutionConfig.SelectedSteps: {unknown} are not steps of the "
                                  f"pipeline (it has {sorted(definition.steps)})")
    chosen = set(names)
    for name in definition.steps:
        if name in chosen:
            continue
        if upstream_of(definition, {name}) & chosen and downstream_of(definition, name) & chosen:
            raise ValidationException(f"SelectiveExecutionConfig.SelectedSteps: step {name} lies between selected "
                                      f"steps, so it must be selected too")
    return names


def upstream_of(definition: Definition, names: set[str]) -> set[str]:
    """Every step the steps ``names`` wait for, transitively (not ``names`` themselves)."""
    found: set[str] = set()
    todo = [up for n in names for up in definition.steps[n].upstream]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(definition.steps[name].upstream)
    return found


def downstream_of(definition: Definition, name: str) -> set[str]:
    """Every step that waits for ``name``, transitively."""
    return {s for s in definition.steps if name in upstream_of(definition, {s})}


def reused_steps(definition: Definition, selected: list[str], source: PipelineExecution | None,
                 pipeline_arn: str) -> list[StepRun]:
    """The steps the selection reads and does not run, as they ended in ``source``; ``ValidationException``
    when one is missing there, or the source does not fit."""
    needed = sorted(upstream_of(definition, set(selected)) - set(selected))
    if not needed:
        return []
    if source is None:
        raise ValidationException(f"SelectiveExecutionConfig: the selected steps read steps {needed}, which are not "
                                  f"selected, so SourcePipelineExecutionArn is required")
    if source.pipeline_arn != pipeline_arn:
        raise ValidationException(f"SelectiveExecutionConfig: {source.pipeline_execution_arn} is not an execution "
                                  f"of pipeline {pipeline_arn}")
    if source.pipeline_execution_status not in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED):
        raise ValidationException(f"SelectiveExecutionConfig: the source execution is "
                                  f"{source.pipeline_execution_status.value}; it must be Succeeded or Failed")
    reused: list[StepRun] = []
    for name in needed:
        run = source.step(name)
        if run is None or run.step_status is not StepStatus.SUCCEEDED:
            raise ValidationException(f"SelectiveExecutionConfig: step {name}, which the selected steps read, did "
                                      f"not succeed in {source.pipeline_execution_arn}")
        reused.append(run.model_copy(update={
            "selective_execution_result": {"SourcePipelineExecutionArn": source.pipeline_execution_arn},
            "cache_key": None, "claim": None, "claimed_at": None}))
    return reused
