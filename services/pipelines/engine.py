"""Advancing an execution: the one routine every trigger calls.

:meth:`ExecutionEngine.advance` brings an execution up to date and is
idempotent, so any trigger may call it any number of times: the execution's
own status-change event (it started, was asked to stop, was retried), a job
state-change event of one of its jobs, and the node's sweep after a restart.
One round:

1. observe the jobs of the running steps (their Describe* responses);
2. in one conditional write of the execution document, record the jobs that
   ended, mark ``Starting`` every step whose upstream steps succeeded (and
   whose branch was taken) up to ``MaxParallelExecutionSteps``, claimed by
   this round, and end the execution when nothing runs and nothing can start;
3. perform the claimed starts: create the job (named after the execution,
   the step and the attempt, so a repeated start finds its job), the model
   or the package, or decide the Condition / Fail step, and record it.

Rounds repeat until one changes nothing. A start claimed by a round that
died is taken over once its claim is older than ``claim_grace``. Every
status change is published as SageMaker's pipeline events.

A failure its ``RetryPolicies`` cover (:mod:`services.pipelines.retries`)
puts the step back to ``Starting`` with its next ``AttemptCount`` and the
time that attempt may start; a round claims it from then on, woken by a
timer of this process (or, after a restart, by the sweep).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.core.events import Publisher
from services.core.exceptions import ResourceInUse, ResourceNotFound, ServiceError, ValidationException
from services.core.store import DocumentStore
from services.pipelines.callouts import (
    CalloutFailed,
    FunctionInvoke,
    MessageSend,
    callback_message,
    callback_token,
    declared_outputs,
    lambda_result,
    output_list,
    typed_outputs,
)
from services.pipelines.definition import Definition, StepDef, parse_definition
from services.pipelines.events import publish_changes
from services.pipelines.expressions import ExpressionError, Scope, evaluate_condition, resolve, to_text
from services.pipelines.models import (
    CallbackWait,
    EndpointWait,
    ExecutionStatus,
    PipelineExecution,
    StepRun,
    StepStatus,
)
from services.pipelines.properties import PathError, lookup
from services.pipelines.retries import job_exception_type, next_attempt_at, request_exception_type
from services.pipelines.steps import (
    JOB_KINDS,
    ControlPlane,
    create_endpoint_config,
    create_model,
    failure_of,
    observe_endpoint,
    register_model,
    start_endpoint,
)

log = logging.getLogger(__name__)

_MAX_ROUNDS = 200
_RUNNING = (StepStatus.STARTING, StepStatus.EXECUTING, StepStatus.STOPPING)
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                       r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str) -> timedelta:
    """An ISO-8601 duration (``PT1H``, ``P30D``, ``P1DT12H``) as a timedelta (a month is 30 days)."""
    m = _DURATION.match(text or "")
    if m is None or text in ("P", "PT"):
        raise ValueError(f"{text!r} is not an ISO-8601 duration")
    years, months, weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return timedelta(days=years * 365 + months * 30 + weeks * 7 + days, hours=hours, minutes=minutes,
                     seconds=seconds)


def resource_name(execution_id: str, step: str, attempt: int, step_type: str = "") -> str:
    """The job (or model) a step's attempt creates: ``pipelines-<execution>-<step>-<digest>``, as SageMaker
    names them, and the same on every repeat of the start. Lower-case, so the name an ARN carries is the name;
    a tuning job's (at most 32 characters) is ``pipelines-<execution>-<digest>``."""
    digest = hashlib.sha256(f"{execution_id}/{step}/{attempt}".encode()).hexdigest()
    if step_type == "Tuning":
        return f"pipelines-{execution_id}-{digest[:9]}"
    stem = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")[:20].strip("-") or "step"
    return f"pipelines-{execution_id}-{stem}-{digest[:10]}"


def execution_of(resource: str) -> str | None:
    """The execution id in the name of a resource a pipeline created, or ``None``."""
    m = re.match(r"^pipelines-([a-z0-9]{12})-", resource.rsplit("/", 1)[-1])
    return m[1] if m else None


@functools.lru_cache(maxsize=64)
def _definition(text: str) -> Definition:
    return parse_definition(text)


class ExecutionEngine:
    """Advances executions stored in ``executions`` by running their steps on the control plane.

    ``executions`` must keep an index of :meth:`PipelineExecution.index_summary` (the sweep and the cache
    read it instead of the executions); a Callback step's token is recorded in ``callbacks`` (by default a
    collection beside the executions).
    """

    def __init__(self, executions: DocumentStore[PipelineExecution], invoke: ControlPlane,
                 read_json: Callable[[str], Awaitable[Any]], publisher: Publisher, *,
                 clock: Callable[[], datetime], claim_grace: timedelta = timedelta(seconds=30),
                 invoke_function: FunctionInvoke | None = None, send_message: MessageSend | None = None) -> None:
        if executions.index is None:
            raise TypeError("pipeline executions need an index of PipelineExecution.index_summary")
        self.executions = executions
        self.callbacks: DocumentStore[CallbackWait] = DocumentStore(
            executions.backend, "pipeline-callbacks", CallbackWait, "Callback token")
        self.endpoint_waits: DocumentStore[EndpointWait] = DocumentStore(
            executions.backend, "pipeline-endpoints", EndpointWait, "Endpoint wait")
        # Lambda steps: the node's Lambda service, bound once it exists; Callback steps: SQS.
        self.invoke_function = invoke_function
        self.send_message = send_message
        self.invoke = invoke
        self.read_json = read_json
        self.publisher = publisher
        self.clock = clock
        self.claim_grace = claim_grace
        self._timers: dict[tuple[str, datetime], asyncio.TimerHandle] = {}
        self._wakes: set[asyncio.Task[Any]] = set()

    async def update(self, execution_id: str, mutate: Callable[[PipelineExecution], PipelineExecution | None]
                     ) -> tuple[PipelineExecution, PipelineExecution]:
        """Change the execution and publish what changed."""
        before, after = await self.executions.update(execution_id, mutate)
        if after is not before:
            await publish_changes(self.publisher, before, after)
        return before, after

    async def advance(self, execution_id: str) -> PipelineExecution | None:
        """Bring the execution up to date (see the module doc); the execution as it is then."""
        execution = await self.executions.get(execution_id)
        for _ in range(_MAX_ROUNDS):
            if execution is None or execution.pipeline_execution_status.is_terminal:
                return execution
            self._wake_for_retries(execution)
            definition = _definition(execution.pipeline_definition)
            observed = await self._observe(execution)
            claim = uuid.uuid4().hex
            now = self.clock()
            before, after = await self.update(
                execution_id, lambda e: plan(e, definition, observed, claim, now))
            work = [s for s in after.steps if self._ours(s, claim, now)]
            stops = [s for s in after.steps if s.step_status is StepStatus.STOPPING and s.step_type in JOB_KINDS]
            callbacks = [s for s in after.steps if s.step_status is StepStatus.STOPPING and s.step_type == "Callback"
                         and not s.stop_sent]
            await asyncio.gather(*(self._perform(after, definition, s) for s in work),
                                 *(self._stop(after, s, now) for s in stops),
                                 *(self._stop_callback(after, definition, s) for s in callbacks))
            if after is before and not work:
                return after
            execution = await self.executions.get(execution_id)
        log.warning("pipeline execution %s: still changing after %d rounds", execution_id, _MAX_ROUNDS)
        return execution

    def _ours(self, step: StepRun, claim: str, now: datetime) -> bool:
        if step.step_status is not StepStatus.STARTING or step.retry_at is not None:
            return False  # a retry waiting for its time is claimed by the round that finds it due
        return step.claim == claim or step.claimed_at is None or now - step.claimed_at > self.claim_grace

    def _wake_for_retries(self, execution: PipelineExecution) -> None:
        """Advance the execution again when a retry waiting in it is due (no event will say so)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for run in execution.steps:
            if run.retry_at is None or run.step_status is not StepStatus.STARTING:
                continue
            key = (execution.pipeline_execution_id, run.retry_at)
            if key not in self._timers:
                delay = max(0.0, (run.retry_at - self.clock()).total_seconds())
                self._timers[key] = loop.call_later(delay, self._wake, key)

    def wake(self, execution_id: str) -> None:
        """Advance the execution soon, in the background (after a callback's outcome arrived)."""
        self._wake((execution_id, self.clock()))

    def _wake(self, key: tuple[str, datetime]) -> None:
        self._timers.pop(key, None)
        task = asyncio.ensure_future(self._advance_logged(key[0]))
        self._wakes.add(task)
        task.add_done_callback(self._wakes.discard)

    async def _advance_logged(self, execution_id: str) -> None:
        try:
            await self.advance(execution_id)
        except Exception:  # noqa: BLE001 - the sweep tries again; a timer has no caller to tell
            log.exception("pipeline execution %s: advancing for a retry failed", execution_id)

    async def _observe(self, execution: PipelineExecution) -> dict[str, tuple[StepStatus, dict[str, Any]]]:
        """The status and Describe* response of each running step's job."""
        running = [s for s in execution.steps if s.step_status in (StepStatus.EXECUTING, StepStatus.STOPPING)
                   and (s.step_type in JOB_KINDS or s.step_type == "Endpoint") and s.resource_name]

        async def one(step: StepRun) -> tuple[str, tuple[StepStatus, dict[str, Any]]] | None:
            try:
                if step.step_type == "Endpoint":
                    return step.step_name, await observe_endpoint(self.invoke, step.resource_name or "")
                return step.step_name, await JOB_KINDS[step.step_type].observe(self.invoke, step.resource_name or "")
            except ResourceNotFound:
                return None

        found = await asyncio.gather(*(one(s) for s in running))
        return dict(f for f in found if f is not None)

    # --- performing a claimed start -----------------------------------------------------

    async def _perform(self, execution: PipelineExecution, definition: Definition, run: StepRun) -> None:
        step = definition.steps[run.step_name]
        scope = self.scope(execution, definition)
        try:
            if step.type == "Fail":
                message = to_text(await resolve((step.arguments or {}).get("ErrorMessage", ""), scope))
                await self._record(execution, run, StepStatus.FAILED, failure_reason=message,
                                   metadata={"Fail": {"ErrorMessage": message}})
            elif step.type == "Condition":
                outcome = True
                for condition in step.arguments["Conditions"]:
                    if not await evaluate_condition(condition, scope):
                        outcome = False
                        break
                await self._record(execution, run, StepStatus.SUCCEEDED, outcome=outcome,
                                   properties={"Outcome": outcome},
                                   metadata={"Condition": {"Outcome": "True" if outcome else "False"}})
            else:
                await self._perform_resource(execution, definition, step, run, scope)
        except (ExpressionError, PathError, ServiceError) as err:
            reason = err.message if isinstance(err, CalloutFailed) else failure_of(err) if isinstance(
                err, ServiceError) else str(err)
            await self._record(execution, run, StepStatus.FAILED, failure_reason=reason,
                               exception_type=request_exception_type(err))

    async def _perform_resource(self, execution: PipelineExecution, definition: Definition, step: StepDef,
                                run: StepRun, scope: Scope) -> None:
        arguments = await resolve(step.arguments, scope)
        cache_key = None
        if step.cache_config is not None:
            cache_key = await self._cache_key(execution, definition, step)
            if await self._cache_hit(execution, step, run, cache_key):
                return
        name = run.resource_name or resource_name(execution.pipeline_execution_id, step.name, run.attempt_count,
                                                  step.type)
        if step.type in JOB_KINDS:
            kind = JOB_KINDS[step.type]
            await kind.start(self.invoke, name, arguments)
            status, described = await kind.observe(self.invoke, name)
            if status is StepStatus.STOPPING:
                status = StepStatus.EXECUTING
            await self._record(execution, run, status, metadata=kind.metadata(described), cache_key=cache_key,
                               properties=described if status.is_terminal else None,
                               failure_reason=described.get("FailureReason") if status is StepStatus.FAILED
                               else None, exception_type=job_exception_type(described.get("FailureReason")))
        elif step.type == "Lambda":
            arn = str(step.raw.get("FunctionArn", ""))
            if self.invoke_function is None:
                raise ValidationException("Lambda steps need the node's Lambda service, which is not running")
            payload, error = await self.invoke_function(arn, json.dumps(arguments, default=str).encode())
            values = typed_outputs(step.name, declared_outputs(step.raw), lambda_result(step.name, payload, error))
            await self._record(execution, run, StepStatus.SUCCEEDED, properties={"OutputParameters": values},
                               cache_key=cache_key,
                               metadata={"Lambda": {"Arn": arn, "OutputParameters": output_list(values)}})
        elif step.type == "Callback":
            if self.send_message is None:
                raise ValidationException("Callback steps need SQS, which this node has no client for")
            token = callback_token(execution.pipeline_execution_id, step.name, run.attempt_count)
            url = str(step.raw.get("SqsQueueUrl", ""))
            try:  # before the message: its answer may come at once
                await self.callbacks.create(token, CallbackWait(
                    pipeline_execution_id=execution.pipeline_execution_id, step_name=step.name,
                    attempt_count=run.attempt_count))
            except ResourceInUse:
                pass  # a repeated start of this attempt wrote it already
            await self.send_message(url, callback_message(token, execution.pipeline_execution_arn, arguments,
                                                          "Executing"))
            await self._record(execution, run, StepStatus.EXECUTING, cache_key=cache_key,
                               metadata={"Callback": {"CallbackToken": token, "SqsQueueUrl": url}})
        elif step.type == "Model":
            described = await create_model(self.invoke, name, arguments)
            await self._record(execution, run, StepStatus.SUCCEEDED, properties=described, cache_key=cache_key,
                               metadata={"Model": {"Arn": described["ModelArn"]}})
        elif step.type == "EndpointConfig":
            described = await create_endpoint_config(self.invoke, arguments)
            await self._record(execution, run, StepStatus.SUCCEEDED, properties=described, cache_key=cache_key,
                               metadata={"EndpointConfig": {"Arn": described["EndpointConfigArn"]}})
        elif step.type == "Endpoint":
            endpoint = str(arguments.get("EndpointName", ""))
            # Before the request: the endpoint's state-change event finds the execution by it.
            await self._wait_for_endpoint(endpoint, EndpointWait(
                pipeline_execution_id=execution.pipeline_execution_id, step_name=step.name))
            await start_endpoint(self.invoke, arguments)
            status, described = await observe_endpoint(self.invoke, endpoint)
            await self._record(execution, run, status, cache_key=cache_key, resource_name=endpoint,
                               metadata={"Endpoint": {"Arn": described["EndpointArn"]}},
                               properties=described if status.is_terminal else None,
                               failure_reason=described.get("FailureReason") if status is StepStatus.FAILED
                               else None, exception_type=job_exception_type(described.get("FailureReason")))
        else:  # RegisterModel
            described = await register_model(self.invoke, arguments)
            await self._record(execution, run, StepStatus.SUCCEEDED, properties=described, cache_key=cache_key,
                               metadata={"RegisterModel": {"Arn": described["ModelPackageArn"]}})

    async def _wait_for_endpoint(self, endpoint: str, wait: EndpointWait) -> None:
        try:
            await self.endpoint_waits.create(endpoint, wait)
        except ResourceInUse:
            await self.endpoint_waits.update(endpoint, lambda current: None if current == wait else wait)

    async def waiting_for_endpoint(self, endpoint: str) -> str | None:
        """The execution whose Endpoint step deploys ``endpoint`` last, if any."""
        wait = await self.endpoint_waits.get(endpoint)
        return None if wait is None else wait.pipeline_execution_id

    async def _record(self, execution: PipelineExecution, run: StepRun, status: StepStatus, *,
                      exception_type: str | None = None, **fields: Any) -> None:
        """Write a start's outcome, unless the step moved on meanwhile (a stop, a takeover); a failure of
        ``exception_type`` that the step's ``RetryPolicies`` cover is a retry."""
        now = self.clock()
        stop_job = False
        step = _definition(execution.pipeline_definition).steps[run.step_name]

        def edit(e: PipelineExecution) -> PipelineExecution | None:
            nonlocal stop_job
            current = e.step(run.step_name)
            if current is None or current.attempt_count != run.attempt_count:
                return None
            if current.step_status is StepStatus.STOPPING and current.step_type in JOB_KINDS:
                # Stopped while it started: keep what it started, and stop that.
                stop_job = not status.is_terminal
                current.metadata = fields.get("metadata") or current.metadata
                if status.is_terminal:
                    _finish(current, status, now, fields)
                return e
            if current.step_status is not StepStatus.STARTING:
                return None
            if status is StepStatus.FAILED:
                _fail_or_retry(e, current, step, exception_type, now, fields)
            elif status.is_terminal:
                _finish(current, status, now, fields)
            else:
                _apply(current, status, fields)
            return e

        _, after = await self.update(execution.pipeline_execution_id, edit)
        if stop_job:
            current = after.step(run.step_name)
            if current is not None and current.resource_name:
                await JOB_KINDS[current.step_type].request_stop(self.invoke, current.resource_name)

    async def _stop_callback(self, execution: PipelineExecution, definition: Definition, run: StepRun) -> None:
        """Tell a stopping Callback step's queue (once); the step ends when its outcome is sent back."""
        callback = run.metadata.get("Callback") or {}
        if self.send_message is None or not callback.get("CallbackToken"):
            return
        arguments = await resolve(definition.steps[run.step_name].arguments, self.scope(execution, definition))
        await self.send_message(callback["SqsQueueUrl"], callback_message(
            callback["CallbackToken"], execution.pipeline_execution_arn, arguments, "Stopping"))

        def sent(e: PipelineExecution) -> PipelineExecution | None:
            current = e.step(run.step_name)
            if current is None or current.attempt_count != run.attempt_count or current.stop_sent:
                return None
            current.stop_sent = True
            return e

        await self.executions.update(execution.pipeline_execution_id, sent)

    async def _stop(self, execution: PipelineExecution, run: StepRun, now: datetime) -> None:
        """Stop a stopping step's job; one whose job was never created (its start died) is ``Stopped``."""
        kind = JOB_KINDS[run.step_type]
        try:
            status, _ = await kind.observe(self.invoke, run.resource_name or "")
        except ResourceNotFound:
            if run.claimed_at is None or now - run.claimed_at > self.claim_grace:
                def edit(e: PipelineExecution) -> PipelineExecution | None:
                    current = e.step(run.step_name)
                    if current is None or current.step_status is not StepStatus.STOPPING:
                        return None
                    _finish(current, StepStatus.STOPPED, now, {})
                    return e

                await self.update(execution.pipeline_execution_id, edit)
            return
        if not status.is_terminal:
            await kind.request_stop(self.invoke, run.resource_name or "")

    # --- caching ----------------------------------------------------------------------------

    async def _cache_key(self, execution: PipelineExecution, definition: Definition, step: StepDef) -> str:
        """What makes two runs of a step the same: its type and arguments with every parameter and property
        resolved, execution variables left as they are written (an output path holding the execution id
        would otherwise never match)."""
        scope = self.scope(execution, definition, symbolic_execution=True)
        resolved = await resolve(step.arguments, scope)
        text = json.dumps({"Type": step.type, "Arguments": resolved, "PropertyFiles": step.raw.get("PropertyFiles")},
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    async def _cache_hit(self, execution: PipelineExecution, step: StepDef, run: StepRun, key: str) -> bool:
        """Reuse the latest successful run of the same step of the same pipeline within ``ExpireAfter``."""
        config = step.cache_config or {}
        now = self.clock()
        expire = config.get("ExpireAfter")
        oldest = now - parse_duration(expire) if expire else None
        best: tuple[PipelineExecution, StepRun] | None = None
        same = [n for n, s in (await self.executions.summaries()).items()
                if s.get("PipelineName") == execution.pipeline_name and n != execution.pipeline_execution_id]
        for other in await self.executions.get_many(same):
            done = other.step(step.name)
            if (done is None or done.step_status is not StepStatus.SUCCEEDED or done.cache_key != key
                    or done.end_time is None or (oldest is not None and done.end_time < oldest)):
                continue
            if best is None or done.end_time > (best[1].end_time or done.end_time):
                best = (other, done)
        if best is None:
            return False
        source, done = best
        hit = done.cache_hit_result or {"SourcePipelineExecutionArn": source.pipeline_execution_arn}
        await self._record(execution, run, StepStatus.SUCCEEDED, properties=done.properties, metadata=done.metadata,
                           cache_hit_result=hit, cache_key=key, resource_name=done.resource_name)
        return True

    # --- what expressions read ----------------------------------------------------------------

    def scope(self, execution: PipelineExecution, definition: Definition, *,
              symbolic_execution: bool = False) -> Scope:
        """The values the execution's expressions read."""
        parameters = definition.typed_parameters(execution.parameters)

        def step_properties(name: str) -> dict[str, Any] | None:
            run = execution.step(name)
            return run.properties if run is not None and run.step_status is StepStatus.SUCCEEDED else None

        def property_file_uri(name: str, file: str) -> str:
            spec = definition.steps[name].property_files.get(file) if name in definition.steps else None
            properties = step_properties(name)
            if spec is None or properties is None:
                raise ExpressionError(f"Steps.{name}.PropertyFiles.{file} has no value: the step has not succeeded")
            try:
                base = lookup(properties, f"ProcessingOutputConfig.Outputs['{spec['OutputName']}'].S3Output.S3Uri")
            except PathError as err:
                raise ExpressionError(f"property file {file} of step {name}: {err}") from err
            return f"{str(base).rstrip('/')}/{spec['FilePath'].lstrip('/')}"

        variables = {"PipelineExecutionId": execution.pipeline_execution_id,
                     "PipelineExecutionArn": execution.pipeline_execution_arn,
                     "StartDateTime": execution.creation_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "CurrentDateTime": self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "PipelineName": execution.pipeline_name, "PipelineArn": execution.pipeline_arn,
                     "PipelineExecutionDisplayName": execution.pipeline_execution_display_name
                     or execution.pipeline_execution_id}
        return Scope(parameters=parameters, execution=variables, step_properties=step_properties,
                     property_file_uri=property_file_uri, read_json=self.read_json,
                     symbolic_execution=symbolic_execution)


def _apply(run: StepRun, status: StepStatus, fields: dict[str, Any]) -> None:
    run.step_status = status
    for key, value in fields.items():
        if value is not None:
            setattr(run, key, value)


def _finish(run: StepRun, status: StepStatus, now: datetime, fields: dict[str, Any]) -> None:
    _apply(run, status, fields)
    run.end_time = now
    run.claim = None


def _fail_or_retry(execution: PipelineExecution, run: StepRun, step: StepDef, exception_type: str | None,
                   now: datetime, fields: dict[str, Any]) -> None:
    """End the step ``Failed``, or, when its ``RetryPolicies`` cover the failure, make it wait for its next
    attempt (a job of its own name)."""
    at = next_attempt_at(step.retry_policies, exception_type, run.retries, run.start_time, now)
    if at is None:
        _finish(run, StepStatus.FAILED, now, fields)
        return
    run.step_status = StepStatus.STARTING
    run.attempt_count += 1
    run.retries += 1
    run.retry_at = at
    run.claim = run.claimed_at = None
    run.failure_reason = run.end_time = run.properties = None
    if run.resource_name is not None and run.step_type != "Endpoint":  # an endpoint keeps the user's name
        run.resource_name = resource_name(execution.pipeline_execution_id, run.step_name, run.attempt_count,
                                          run.step_type)


def _ready(step: StepDef, execution: PipelineExecution) -> bool:
    for up in step.upstream:
        done = execution.step(up)
        if done is None or done.step_status is not StepStatus.SUCCEEDED:
            return False
    if step.branch is not None:
        condition = execution.step(step.branch[0])
        if condition is None or condition.outcome is not step.branch[1]:
            return False
    return True


def _may_start(step: StepDef, execution: PipelineExecution) -> bool:
    """The step has not started, is ready, and is one the execution runs (a selective execution runs only
    its selected steps)."""
    selected = execution.selected_steps
    return execution.step(step.name) is None and (selected is None or step.name in selected) and \
        _ready(step, execution)


def failure_reason(run: StepRun) -> str:
    """The execution's ``FailureReason`` for its failed step: a Fail step's ``ErrorMessage`` as written, a
    job's reason with the step named."""
    if run.step_type == "Fail":
        return run.failure_reason or ""
    return f"Step {run.step_name} failed: {run.failure_reason or 'no reason given'}"


def plan(execution: PipelineExecution, definition: Definition,
         observed: dict[str, tuple[StepStatus, dict[str, Any]]], claim: str, now: datetime
         ) -> PipelineExecution | None:
    """The pure part of a round (see the module doc); ``None`` when nothing changes."""
    changed = False
    for name, (status, described) in observed.items():
        run = execution.step(name)
        if run is None or run.step_status not in (StepStatus.EXECUTING, StepStatus.STOPPING) or \
                not status.is_terminal:
            continue
        fields = {"properties": described,
                  "failure_reason": described.get("FailureReason") if status is StepStatus.FAILED else None}
        if status is StepStatus.FAILED and run.step_status is StepStatus.EXECUTING:
            _fail_or_retry(execution, run, definition.steps[name], job_exception_type(described.get(
                "FailureReason")), now, fields)
        else:
            _finish(run, status, now, fields)
        changed = True
    status = execution.pipeline_execution_status
    for run in execution.steps:
        if status is ExecutionStatus.EXECUTING and run.retry_at is not None and run.retry_at <= now and \
                run.step_status is StepStatus.STARTING:
            run.retry_at, run.claim, run.claimed_at = None, claim, now  # a retry now due: this round starts it
            changed = True
    failed = [s for s in execution.steps if s.step_status is StepStatus.FAILED]
    if status is ExecutionStatus.EXECUTING and not failed:
        running = sum(1 for s in execution.steps if s.step_status in _RUNNING)
        limit = execution.max_parallel_steps
        for step in definition.steps.values():
            if limit is not None and running >= limit:
                break
            if _may_start(step, execution):
                attempt = 1 + execution.attempts_before.get(step.name, 0)
                execution.steps.append(StepRun(
                    step_name=step.name, step_type=step.type, step_status=StepStatus.STARTING, start_time=now,
                    step_display_name=step.raw.get("DisplayName"), step_description=step.raw.get("Description"),
                    attempt_count=attempt, claim=claim, claimed_at=now,
                    resource_name=resource_name(execution.pipeline_execution_id, step.name, attempt, step.type)
                    if step.type in JOB_KINDS or step.type == "Model" else None))
                running += 1
                changed = True
    if status is ExecutionStatus.STOPPING:
        for run in execution.steps:
            if run.step_status in (StepStatus.STARTING, StepStatus.EXECUTING):
                if run.step_type in JOB_KINDS or (run.step_type == "Callback" and run.step_status is
                                                  StepStatus.EXECUTING):
                    run.step_status = StepStatus.STOPPING
                else:
                    _finish(run, StepStatus.STOPPED, now, {})
                changed = True
    if not status.is_terminal and not any(s.step_status in _RUNNING for s in execution.steps):
        ready = status is ExecutionStatus.EXECUTING and not failed and any(
            _may_start(s, execution) for s in definition.steps.values())
        if not ready:
            if status is ExecutionStatus.STOPPING:
                execution.pipeline_execution_status = ExecutionStatus.STOPPED
            elif failed:
                execution.pipeline_execution_status = ExecutionStatus.FAILED
                execution.failure_reason = failure_reason(failed[0])[:1300]
            else:
                execution.pipeline_execution_status = ExecutionStatus.SUCCEEDED
            execution.end_time = now
            changed = True
    if not changed:
        return None
    execution.last_modified_time = now
    return execution


def s3_json_reader(s3: S3Adapter) -> Callable[[str], Awaitable[Any]]:
    """What JsonGet reads a property file with: the JSON document at an S3 URI."""

    async def read(uri: str) -> Any:
        bucket, key = parse_s3_uri(uri)
        body = await s3.get_bytes(bucket, key)
        if body is None:
            raise ExpressionError(f"JsonGet: there is no object at {uri}")
        try:
            return json.loads(body)
        except ValueError as err:
            raise ExpressionError(f"JsonGet: {uri} is not a JSON document: {err}") from err

    return read
