"""Pipelines and their executions: the control plane behind the SageMaker Pipelines operations.

``CreatePipeline`` checks the definition (:mod:`services.pipelines.definition`)
and stores it as version 1; ``UpdatePipeline`` adds a version.
``StartPipelineExecution`` types the parameters, writes the execution
document and publishes its "Executing" status change, which is what starts
its first steps (:class:`~services.pipelines.engine.ExecutionEngine`, run
by the handler that event reaches): the request returns at once, and a node
that dies before the steps start still starts them from the event. Stop and
retry work the same way. ``ClientRequestToken`` makes create, start, stop
and retry idempotent: a start repeated with its token names the same
execution.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.aws.s3 import S3Adapter
from services.core.events import Publisher
from services.core.exceptions import ResourceInUse, ResourceNotFound, ValidationException
from services.core.paging import page
from services.core.store import DocumentStore
from services.core.tags import TagAccess, document_tags
from services.core.times import parse_time, utcnow
from services.pipelines.callouts import callback_token, declared_outputs, output_list, typed_outputs
from services.pipelines.definition import parse_definition
from services.pipelines.engine import ExecutionEngine
from services.pipelines.events import publish_changes
from services.pipelines.expressions import resolve, to_text
from services.pipelines.models import (
    ExecutionStatus,
    Pipeline,
    PipelineExecution,
    PipelineVersion,
    StepRun,
    StepStatus,
)
from services.pipelines.selective import reused_steps, selected_names

log = logging.getLogger(__name__)

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def execution_id_for(pipeline_arn: str, token: str) -> str:
    """An execution id (12 lower-case letters and digits, as SageMaker's) that a start's
    ``ClientRequestToken`` determines: the same start repeated names the same execution."""
    number = int.from_bytes(hashlib.sha256(f"{pipeline_arn}/{token}".encode()).digest()[:10], "big")
    out = ""
    for _ in range(12):
        number, digit = divmod(number, 36)
        out += _ALPHABET[digit]
    return out


def _arn_name(name_or_arn: str) -> str:
    """The pipeline name in ``name_or_arn`` (an ARN carries it lower-cased)."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":pipeline/", 1)[-1].split("/", 1)[0]
    return name_or_arn


class PipelineService:
    """Pipelines, their versions and executions, over the state store."""

    def __init__(self, pipelines: DocumentStore[Pipeline], executions: DocumentStore[PipelineExecution],
                 engine: ExecutionEngine, s3: S3Adapter | None, publisher: Publisher, *, region: str,
                 account_id: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.pipelines = pipelines
        self.executions = executions
        self.engine = engine
        self.s3 = s3
        self.publisher = publisher
        self.region = region
        self.account_id = account_id
        self.clock = clock

    def arn(self, name: str) -> str:
        """The pipeline's ARN (the name lower-cased, as SageMaker writes ARNs)."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:pipeline/{name.lower()}"

    # --- pipelines ---------------------------------------------------------------------------

    async def _definition(self, params: dict[str, Any]) -> str:
        text, location = params.get("PipelineDefinition"), params.get("PipelineDefinitionS3Location")
        if (text is None) == (location is None):
            raise ValidationException("Exactly one of PipelineDefinition and PipelineDefinitionS3Location must be "
                                      "given")
        if location is not None:
            if self.s3 is None:
                raise ValidationException("PipelineDefinitionS3Location is not available here")
            body = await self.s3.get_bytes(location["Bucket"], location["ObjectKey"])
            if body is None:
                raise ValidationException(f"No pipeline definition at s3://{location['Bucket']}/"
                                          f"{location['ObjectKey']}")
            text = body.decode("utf-8", errors="replace")
        parse_definition(text)
        return text

    async def create_pipeline(self, params: dict[str, Any]) -> Pipeline:
        """A new pipeline at version 1; the same request repeated (same token) is answered with it."""
        name, token = params["PipelineName"], params.get("ClientRequestToken")
        existing = await self.pipelines.find(name, lambda p: p.pipeline_name)
        if existing is not None:
            if token and existing.client_request_token == token:
                return existing
            raise _name_taken(name)
        definition = await self._definition(params)
        now = self.clock()
        pipeline = Pipeline(
            pipeline_name=name, pipeline_arn=self.arn(name), pipeline_display_name=params.get("PipelineDisplayName"),
            pipeline_description=params.get("PipelineDescription"), role_arn=params["RoleArn"], creation_time=now,
            last_modified_time=now, parallelism_configuration=params.get("ParallelismConfiguration"),
            tags=params.get("Tags"), client_request_token=token,
            versions=[PipelineVersion(pipeline_version_id=1, pipeline_definition=definition, creation_time=now)])
        try:
            return await self.pipelines.create(name, pipeline)
        except ResourceInUse as err:
            raise _name_taken(name) from err

    async def find_pipeline(self, name_or_arn: str) -> Pipeline:
        """The pipeline, or ``ResourceNotFound``."""
        name = _arn_name(name_or_arn)
        pipeline = await self.pipelines.find(name, lambda p: p.pipeline_name)
        if pipeline is None:
            raise ResourceNotFound(f"Pipeline '{self.arn(name)}' does not exist.")
        return pipeline

    async def update_pipeline(self, params: dict[str, Any]) -> Pipeline:
        """Change a pipeline; a new definition is a new version."""
        pipeline = await self.find_pipeline(params["PipelineName"])
        definition = None
        if params.get("PipelineDefinition") is not None or params.get("PipelineDefinitionS3Location") is not None:
            definition = await self._definition(params)
        now = self.clock()

        def edit(p: Pipeline) -> Pipeline:
            for member, attr in (("PipelineDisplayName", "pipeline_display_name"),
                                 ("PipelineDescription", "pipeline_description"), ("RoleArn", "role_arn"),
                                 ("ParallelismConfiguration", "parallelism_configuration")):
                if params.get(member) is not None:
                    setattr(p, attr, params[member])
            if definition is not None:
                p.versions.append(PipelineVersion(pipeline_version_id=p.latest.pipeline_version_id + 1,
                                                  pipeline_definition=definition, creation_time=now))
            p.last_modified_time = now
            return p

        return (await self.pipelines.update(pipeline.pipeline_name, edit))[1]

    async def delete_pipeline(self, name: str) -> str:
        """Delete a pipeline (its executions stay readable); its ARN."""
        pipeline = await self.find_pipeline(name)
        await self.pipelines.delete(pipeline.pipeline_name)
        return pipeline.pipeline_arn

    async def describe_pipeline(self, name_or_arn: str, version_id: int | None = None) -> dict[str, Any]:
        """``DescribePipeline`` (of one version, the latest by default)."""
        pipeline = await self.find_pipeline(name_or_arn)
        version = pipeline.version(version_id)
        if version is None:
            raise ResourceNotFound(f"Pipeline '{pipeline.pipeline_arn}' has no version {version_id}.")
        return pipeline.describe(version)

    async def list_pipelines(self, params: dict[str, Any]) -> tuple[list[Pipeline], str | None]:
        """``ListPipelines``: filter, sort (``CreationTime`` descending by default) and page."""
        prefix = params.get("PipelineNamePrefix")
        after, before = parse_time(params.get("CreatedAfter")), parse_time(params.get("CreatedBefore"))
        found = [p for p in await self.pipelines.list()
                 if (not prefix or p.pipeline_name.startswith(prefix))
                 and (after is None or p.creation_time > after) and (before is None or p.creation_time < before)]
        if params.get("SortBy") == "Name":
            found.sort(key=lambda p: p.pipeline_name)
        else:
            found.sort(key=lambda p: (p.creation_time, p.pipeline_name))
        if params.get("SortOrder", "Descending") == "Descending":
            found.reverse()
        return page(found, int(params.get("MaxResults", 10)), params.get("NextToken"))

    async def list_pipeline_versions(self, params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        """``ListPipelineVersions``, newest first by default."""
        pipeline = await self.find_pipeline(params["PipelineName"])
        after, before = parse_time(params.get("CreatedAfter")), parse_time(params.get("CreatedBefore"))
        versions = [v for v in pipeline.versions
                    if (after is None or v.creation_time > after) and (before is None or v.creation_time < before)]
        if params.get("SortOrder", "Descending") == "Descending":
            versions = versions[::-1]
        summaries = [{"PipelineArn": pipeline.pipeline_arn,
                      **{k: v for k, v in version.to_api().items() if k != "PipelineDefinition"}}
                     for version in versions]
        return page(summaries, int(params.get("MaxResults", 10)), params.get("NextToken"))

    def tag_access(self) -> TagAccess:
        """How ``AddTags`` / ``ListTags`` / ``DeleteTags`` reach a pipeline's tags."""
        return document_tags(self.pipelines, self.find_pipeline, lambda p: p.pipeline_name)

    # --- executions --------------------------------------------------------------------------

    async def start_execution(self, params: dict[str, Any]) -> PipelineExecution:
        """Start an execution of a version of the pipeline (see the module doc)."""
        pipeline = await self.find_pipeline(params["PipelineName"])
        version = pipeline.version(params.get("PipelineVersionId"))
        if version is None:
            raise ValidationException(f"Pipeline '{pipeline.pipeline_arn}' has no version "
                                      f"{params.get('PipelineVersionId')}")
        definition = parse_definition(version.pipeline_definition)
        overrides = [{"Name": p["Name"], "Value": p["Value"]} for p in params.get("PipelineParameters") or []]
        definition.typed_parameters(overrides)  # a wrong name or type is refused now, not at a step
        selective = params.get("SelectiveExecutionConfig")
        reused: list[StepRun] = []
        if selective:
            selected = selected_names(selective, definition)
            source_arn = selective.get("SourcePipelineExecutionArn")
            source = await self.find_execution(source_arn) if source_arn else None
            reused = reused_steps(definition, selected, source, pipeline.pipeline_arn)
        token = params.get("ClientRequestToken") or ""
        execution_id = execution_id_for(pipeline.pipeline_arn, token)
        if token and (found := await self.executions.get(execution_id)) is not None:
            return found
        now = self.clock()
        arn = f"{pipeline.pipeline_arn}/execution/{execution_id}"
        execution = PipelineExecution(
            pipeline_execution_id=execution_id, pipeline_name=pipeline.pipeline_name,
            pipeline_arn=pipeline.pipeline_arn, pipeline_execution_arn=arn,
            pipeline_execution_display_name=params.get("PipelineExecutionDisplayName"),
            pipeline_execution_description=params.get("PipelineExecutionDescription"),
            pipeline_execution_status=ExecutionStatus.EXECUTING, creation_time=now, last_modified_time=now,
            parallelism_configuration=params.get("ParallelismConfiguration") or pipeline.parallelism_configuration,
            pipeline_version_id=version.pipeline_version_id, pipeline_definition=version.pipeline_definition,
            parameters=overrides, client_request_tokens=[token] if token else [], steps=reused,
            selective_execution_config=selective or None)
        experiment = definition.raw.get("PipelineExperimentConfig")
        if experiment:
            resolved = await resolve(experiment, self.engine.scope(execution, definition))
            execution.pipeline_experiment_config = {k: to_text(v) for k, v in resolved.items()}
        try:
            await self.executions.create(execution_id, execution)
        except ResourceInUse:
            return await self.executions.require(execution_id)

        def ran(p: Pipeline) -> Pipeline:
            p.last_run_time = now
            for v in p.versions:
                if v.pipeline_version_id == version.pipeline_version_id:
                    v.last_execution_pipeline_execution_arn = arn
            return p

        try:
            await self.pipelines.update(pipeline.pipeline_name, ran)
        except ResourceNotFound:
            pass  # deleted meanwhile: the execution runs all the same
        await publish_changes(self.publisher, None, execution)  # the event that starts its steps
        return execution

    async def find_execution(self, arn: str) -> PipelineExecution:
        """The execution an ARN names, or ``ResourceNotFound``."""
        execution_id = arn.rstrip("/").rsplit("/", 1)[-1]
        execution = await self.executions.get(execution_id) if "/execution/" in arn else None
        if execution is None:
            raise ResourceNotFound(f"Pipeline execution '{arn}' does not exist.")
        return execution

    async def stop_execution(self, arn: str) -> PipelineExecution:
        """Ask an executing execution to stop: its running jobs are stopped, no new step starts."""
        execution = await self.find_execution(arn)
        now = self.clock()

        def stop(e: PipelineExecution) -> PipelineExecution | None:
            if e.pipeline_execution_status is ExecutionStatus.STOPPING:
                return None
            if e.pipeline_execution_status is not ExecutionStatus.EXECUTING:
                raise ValidationException(f"Pipeline execution '{arn}' is {e.pipeline_execution_status.value}; only "
                                          f"an Executing execution can be stopped")
            e.pipeline_execution_status = ExecutionStatus.STOPPING
            e.last_modified_time = now
            return e

        _, after = await self.engine.update(execution.pipeline_execution_id, stop)
        return after

    async def retry_execution(self, params: dict[str, Any]) -> PipelineExecution:
        """Run a failed (or stopped) execution again from its failed and stopped steps."""
        execution = await self.find_execution(params["PipelineExecutionArn"])
        token = params.get("ClientRequestToken")
        if token and token in execution.client_request_tokens:
            return execution
        now = self.clock()

        def retry(e: PipelineExecution) -> PipelineExecution:
            if e.pipeline_execution_status not in (ExecutionStatus.FAILED, ExecutionStatus.STOPPED):
                raise ValidationException(f"Pipeline execution '{e.pipeline_execution_arn}' is "
                                          f"{e.pipeline_execution_status.value}; only a Failed or Stopped "
                                          f"execution can be retried")
            kept: list[StepRun] = []
            for run in e.steps:
                if run.step_status in (StepStatus.FAILED, StepStatus.STOPPED):
                    e.attempts_before[run.step_name] = run.attempt_count
                else:
                    kept.append(run)
            e.steps = kept
            e.pipeline_execution_status = ExecutionStatus.EXECUTING
            e.failure_reason = None
            e.end_time = None
            e.last_modified_time = now
            if params.get("ParallelismConfiguration"):
                e.parallelism_configuration = params["ParallelismConfiguration"]
            if token:
                e.client_request_tokens.append(token)
            return e

        _, after = await self.engine.update(execution.pipeline_execution_id, retry)
        return after

    async def update_execution(self, params: dict[str, Any]) -> PipelineExecution:
        """Change an execution's display name, description or parallelism."""
        execution = await self.find_execution(params["PipelineExecutionArn"])

        def edit(e: PipelineExecution) -> PipelineExecution:
            if params.get("PipelineExecutionDisplayName") is not None:
                e.pipeline_execution_display_name = params["PipelineExecutionDisplayName"]
            if params.get("PipelineExecutionDescription") is not None:
                e.pipeline_execution_description = params["PipelineExecutionDescription"]
            if params.get("ParallelismConfiguration") is not None:
                e.parallelism_configuration = params["ParallelismConfiguration"]
            e.last_modified_time = self.clock()
            return e

        _, after = await self.engine.update(execution.pipeline_execution_id, edit)
        return after

    async def list_executions(self, params: dict[str, Any]) -> tuple[list[PipelineExecution], str | None]:
        """``ListPipelineExecutions``: newest first by default."""
        pipeline_name = _arn_name(params["PipelineName"])
        after, before = parse_time(params.get("CreatedAfter")), parse_time(params.get("CreatedBefore"))
        found = [(n, sm, datetime.fromisoformat(sm["CreationTime"]))
                 for n, sm in (await self.executions.summaries()).items()
                 if sm["PipelineName"].lower() == pipeline_name.lower()]
        found = [f for f in found if (after is None or f[2] > after) and (before is None or f[2] < before)]
        if not found:
            await self.find_pipeline(params["PipelineName"])  # a pipeline that does not exist is ResourceNotFound
        if params.get("SortBy") == "PipelineExecutionArn":
            found.sort(key=lambda f: f[1]["Arn"])
        else:
            found.sort(key=lambda f: (f[2], f[1]["Arn"]))
        if params.get("SortOrder", "Descending") == "Descending":
            found.reverse()
        names, token = page([f[0] for f in found], int(params.get("MaxResults", 10)), params.get("NextToken"))
        return await self.executions.get_many(names), token

    async def list_steps(self, params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        """``ListPipelineExecutionSteps``: the steps that started, the latest first by default."""
        execution = await self.find_execution(params["PipelineExecutionArn"])
        runs = sorted(execution.steps, key=lambda s: s.start_time)
        if params.get("SortOrder", "Descending") == "Descending":
            runs.reverse()
        return page([r.listed() for r in runs], int(params.get("MaxResults", 100)), params.get("NextToken"))

    async def list_parameters(self, params: dict[str, Any]) -> tuple[list[dict[str, str]], str | None]:
        """``ListPipelineParametersForExecution``: every parameter's value in the execution, as text."""
        execution = await self.find_execution(params["PipelineExecutionArn"])
        typed = parse_definition(execution.pipeline_definition).typed_parameters(execution.parameters)
        values = [{"Name": name, "Value": to_text(value)} for name, value in typed.items()]
        return page(values, int(params.get("MaxResults", 50)), params.get("NextToken"))

    async def complete_callback(self, params: dict[str, Any], *, succeeded: bool) -> PipelineExecution:
        """``SendPipelineExecutionStepSuccess`` (its ``OutputParameters`` typed as the step declares them) or
        ``...Failure`` (its ``FailureReason``): end the Callback step waiting for ``CallbackToken``. A call
        repeated after the step ended answers the same."""
        token = params["CallbackToken"]

        def waiting(e: PipelineExecution, run: StepRun) -> bool:
            # The message goes out before the step records its token: an answer may come first.
            return run.step_type == "Callback" and token in (
                (run.metadata.get("Callback") or {}).get("CallbackToken"),
                callback_token(e.pipeline_execution_id, run.step_name, run.attempt_count))

        found = await self._callback_step(token, waiting)
        if found is None:
            raise ValidationException(f"No step waits for callback token {token}")
        execution, run = found
        if run.step_status.is_terminal:
            return execution
        step = parse_definition(execution.pipeline_definition).steps[run.step_name]
        given = {p["Name"]: p["Value"] for p in params.get("OutputParameters") or []}
        values = typed_outputs(step.name, declared_outputs(step.raw), given) if succeeded else {}
        now = self.clock()

        def end(e: PipelineExecution) -> PipelineExecution | None:
            current = e.step(run.step_name)
            if current is None or current.attempt_count != run.attempt_count or \
                    current.step_status not in (StepStatus.STARTING, StepStatus.EXECUTING, StepStatus.STOPPING):
                return None
            current.step_status = StepStatus.SUCCEEDED if succeeded else StepStatus.FAILED
            current.end_time = now
            current.claim = None
            current.metadata = {"Callback": {"CallbackToken": token, "SqsQueueUrl": step.raw.get("SqsQueueUrl", ""),
                                             **({"OutputParameters": output_list(values)} if succeeded else {})}}
            if succeeded:
                current.properties = {"OutputParameters": values}
            else:
                current.failure_reason = params.get("FailureReason") or "The callback reported a failure"
            e.last_modified_time = now
            return e

        _, after = await self.engine.update(execution.pipeline_execution_id, end)
        self.engine.wake(execution.pipeline_execution_id)  # the next steps start in the background
        return after

    async def _callback_step(self, token: str, waiting: Callable[[PipelineExecution, StepRun], bool]
                             ) -> tuple[PipelineExecution, StepRun] | None:
        """The execution and step ``token`` was sent for: the token's record names the execution (one
        read); a token sent before tokens were recorded is looked for in the unfinished executions."""
        wait = await self.engine.callbacks.get(token)
        if wait is not None:
            candidates = await self.executions.get_many([wait.pipeline_execution_id])
        else:
            candidates = await self.executions.get_many(await self.unfinished())
        return next(((e, r) for e in candidates for r in e.steps if waiting(e, r)), None)

    async def unfinished(self) -> list[str]:
        """The ids of the executions still under way, from the index (no execution is read)."""
        return [name for name, summary in (await self.executions.summaries()).items()
                if not ExecutionStatus(summary["Status"]).is_terminal]

    async def advance(self, execution_id: str) -> PipelineExecution | None:
        """Bring an execution up to date (what the events that concern it trigger)."""
        return await self.engine.advance(execution_id)

    async def waiting_for_endpoint(self, endpoint: str) -> str | None:
        """The execution whose Endpoint step last deployed ``endpoint``, if any."""
        return await self.engine.waiting_for_endpoint(endpoint)

    async def advance_unfinished(self) -> int:
        """Advance every execution still under way (the sweep after a restart, and the backstop for a trigger
        that was lost); how many."""
        unfinished = await self.unfinished()
        for execution_id in unfinished:
            try:
                await self.engine.advance(execution_id)
            except Exception:  # noqa: BLE001 - one execution's trouble must not hold up the others
                log.exception("could not advance pipeline execution %s", execution_id)
        return len(unfinished)


def _name_taken(name: str) -> ValidationException:
    # SageMaker's own wording: the SDK's upsert() reads "already exists" in it to update instead.
    return ValidationException(f"Pipeline names must be unique within an AWS account and region. Pipeline with "
                               f"name ({name}) already exists.")
