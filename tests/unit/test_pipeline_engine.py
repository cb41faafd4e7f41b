"""Executions advanced step by step without a node: a fake control plane stands in for the job services.

Each test drives what the node's handlers do (``advance`` after the start event and after each job event)
and ends jobs by hand, so every state in between can be looked at.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from services.core.exceptions import ResourceInUse, ResourceNotFound, ValidationException
from services.core.store import DocumentStore, MemoryBackend
from services.pipelines.definition import parse_definition
from services.pipelines.engine import ExecutionEngine, execution_of, plan
from services.pipelines.events import EXECUTION_DETAIL_TYPE, STEP_DETAIL_TYPE
from services.pipelines.models import Pipeline, PipelineExecution
from services.pipelines.service import PipelineService, execution_id_for

ROLE = "arn:aws:iam::123456789012:role/x"
STATUS = {"Training": "TrainingJobStatus", "Processing": "ProcessingJobStatus"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        self.events.append((detail_type, detail))
        return "id"

    def steps(self, name: str) -> list[str]:
        return [d["currentStepStatus"] for t, d in self.events if t == STEP_DETAIL_TYPE and d["stepName"] == name]

    def execution(self) -> list[str]:
        return [d["currentPipelineExecutionStatus"] for t, d in self.events if t == EXECUTION_DETAIL_TYPE]


class ControlPlane:
    """Training and processing jobs that run until a test ends them; models and packages made at once."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.packages: list[dict[str, Any]] = []
        self.groups: set[str] = set()

    async def __call__(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(operation)
        kind = next((k for k in STATUS if operation.endswith(f"{k}Job")), None)
        if kind and operation.startswith("Create"):
            name = params[f"{kind}JobName"]
            if name in self.jobs:
                raise ResourceInUse(f"{name} exists")
            self.jobs[name] = {**params, STATUS[kind]: "InProgress",
                               f"{kind}JobArn": f"arn:aws:sagemaker:us-east-1:123456789012:{kind.lower()}-job/{name}"}
            return {}
        if kind and operation.startswith("Describe"):
            if params[f"{kind}JobName"] not in self.jobs:
                raise ResourceNotFound("no such job")
            return dict(self.jobs[params[f"{kind}JobName"]])
        if kind and operation.startswith("Stop"):
            self.jobs[params[f"{kind}JobName"]][STATUS[kind]] = "Stopping"
            return {}
        if operation == "DescribeModelPackageGroup":
            if params["ModelPackageGroupName"] not in self.groups:
                raise ValidationException("no group")
            return {}
        if operation == "CreateModelPackageGroup":
            self.groups.add(params["ModelPackageGroupName"])
            return {}
        if operation == "CreateModelPackage":
            arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/g/{len(self.packages) + 1}"
            self.packages.append({**params, "ModelPackageArn": arn})
            return {"ModelPackageArn": arn}
        if operation == "DescribeModelPackage":
            return next(p for p in self.packages if p["ModelPackageArn"] == params["ModelPackageName"])
        raise AssertionError(f"unexpected {operation}")

    def end(self, step: str, status: str = "Completed", **described: Any) -> None:
        name = next(n for n in self.jobs if f"-{step.lower()}-" in n.lower() and
                    self.jobs[n].get("TrainingJobStatus", self.jobs[n].get("ProcessingJobStatus")) in (
                        "InProgress", "Stopping"))
        job = self.jobs[name]
        job[next(k for k in job if k.endswith("JobStatus"))] = status
        job.update(described)


@pytest.fixture()
def world() -> tuple[PipelineService, ControlPlane, Recorder, Clock]:
    return _node(MemoryBackend())


def _node(backend: MemoryBackend, plane: ControlPlane | None = None,
          clock: Clock | None = None) -> tuple[PipelineService, ControlPlane, Recorder, Clock]:
    """A node's pipeline service over the state in ``backend`` (a second one shares it, as a restart does)."""
    clock, events, plane = clock or Clock(), Recorder(), plane or ControlPlane()
    executions = DocumentStore(backend, "e", PipelineExecution, "Pipeline execution",
                               PipelineExecution.index_summary)

    async def read_json(uri: str) -> Any:
        return {"mse": 0.5}

    engine = ExecutionEngine(executions, plane, read_json, events, clock=clock)
    service = PipelineService(DocumentStore(backend, "p", Pipeline, "Pipeline"), executions, engine, None,
                              events, region="us-east-1", account_id="123456789012", clock=clock)
    return service, plane, events, clock


def _training(name: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Training", **extra, "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": "xgboost", "TrainingInputMode": "File"}, "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": {"Std:Join": {"On": "/", "Values": [
            "s3://b/out", {"Get": "Execution.PipelineExecutionId"}]}}},
        "HyperParameters": {"num_round": {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.NumRound"}]}}},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}}}


def _definition(*steps: dict[str, Any]) -> str:
    return json.dumps({"Version": "2020-12-01", "Parameters": [
        {"Name": "NumRound", "Type": "Integer", "DefaultValue": 3},
        {"Name": "Threshold", "Type": "Float", "DefaultValue": 1.0}], "Steps": list(steps)})


LINEAR = _definition(_training("Train"), {"Name": "Check", "Type": "Condition", "Arguments": {
    "Conditions": [{"Type": "LessThanOrEqualTo",
                    "LeftValue": {"Get": "Steps.Train.FinalMetricDataList['train:rmse'].Value"},
                    "RightValue": {"Get": "Parameters.Threshold"}}],
    "IfSteps": [{"Name": "Register", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": "g", "InferenceSpecification": {"Containers": [
            {"Image": "xgboost", "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}]}}}],
    "ElseSteps": [{"Name": "TooHigh", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
        "On": " ", "Values": ["rmse above", {"Get": "Parameters.Threshold"}]}}}}]}})


async def _start(service: PipelineService, definition: str, token: str = "t" * 32, **params: Any) -> str:
    if await service.pipelines.get("p") is None:
        await service.create_pipeline({"PipelineName": "p", "PipelineDefinition": definition, "RoleArn": ROLE,
                                       "ClientRequestToken": "c" * 32})
    execution = await service.start_execution({"PipelineName": "p", "ClientRequestToken": token, **params})
    return execution.pipeline_execution_id


def _statuses(execution: PipelineExecution | None) -> dict[str, str]:
    assert execution is not None
    return {s.step_name: s.step_status.value for s in execution.steps}


async def test_a_linear_pipeline_runs_each_step_when_its_inputs_exist(world: Any) -> None:
    service, plane, events, _ = world
    eid = await _start(service, LINEAR, PipelineParameters=[{"Name": "NumRound", "Value": "5"}])
    execution = await service.advance(eid)
    assert _statuses(execution) == {"Train": "Executing"}
    (job_name, job), = plane.jobs.items()
    assert execution_of(job_name) == eid
    assert job["HyperParameters"] == {"num_round": "5"} and job["OutputDataConfig"]["S3OutputPath"] == f"s3://b/out/{eid}"
    assert execution.steps[0].metadata == {"TrainingJob": {"Arn": job["TrainingJobArn"]}}
    assert await service.advance(eid) == execution  # nothing ended: nothing changes

    plane.end("Train", ModelArtifacts={"S3ModelArtifacts": "s3://b/model.tar.gz"},
              FinalMetricDataList=[{"MetricName": "train:rmse", "Value": 0.5}])
    execution = await service.advance(eid)
    assert _statuses(execution) == {"Train": "Succeeded", "Check": "Succeeded", "Register": "Succeeded"}
    assert execution.pipeline_execution_status.value == "Succeeded"
    assert plane.packages[0]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == "s3://b/model.tar.gz"
    assert plane.groups == {"g"}  # the step made the group it registers in
    assert execution.step("Check").metadata == {"Condition": {"Outcome": "True"}}
    assert events.steps("Train") == ["Starting", "Executing", "Succeeded"]
    assert events.execution() == ["Executing", "Succeeded"]


async def test_a_fail_step_s_message_is_the_execution_s_failure_reason(world: Any) -> None:
    service, plane, events, _ = world
    eid = await _start(service, LINEAR, PipelineParameters=[{"Name": "Threshold", "Value": "0.25"}])
    await service.advance(eid)
    plane.end("Train", ModelArtifacts={"S3ModelArtifacts": "s3://b/m"},
              FinalMetricDataList=[{"MetricName": "train:rmse", "Value": 0.5}])
    execution = await service.advance(eid)
    assert _statuses(execution) == {"Train": "Succeeded", "Check": "Succeeded", "TooHigh": "Failed"}
    assert (execution.pipeline_execution_status.value, execution.failure_reason) == ("Failed", "rmse above 0.25")
    assert execution.step("TooHigh").metadata == {"Fail": {"ErrorMessage": "rmse above 0.25"}}
    assert plane.packages == []


async def test_independent_steps_start_together_up_to_max_parallel_and_a_join_waits_for_both(world: Any) -> None:
    service, plane, _, _ = world
    definition = _definition(_training("A"), _training("B"), _training("C"), _training("Last", DependsOn=["A", "B"]))
    eid = await _start(service, definition, ParallelismConfiguration={"MaxParallelExecutionSteps": 2})
    execution = await service.advance(eid)
    assert _statuses(execution) == {"A": "Executing", "B": "Executing"}
    assert execution.step("A").start_time == execution.step("B").start_time
    plane.end("A")
    assert _statuses(await service.advance(eid)) == {"A": "Succeeded", "B": "Executing", "C": "Executing"}
    plane.end("B")
    assert _statuses(await service.advance(eid)) == {"A": "Succeeded", "B": "Succeeded", "C": "Executing",
                                                     "Last": "Executing"}


async def test_a_failed_job_fails_the_execution_once_the_running_steps_end(world: Any) -> None:
    service, plane, _, _ = world
    eid = await _start(service, _definition(_training("A"), _training("B"), _training("After", DependsOn=["A"])))
    await service.advance(eid)
    plane.end("A", "Failed", FailureReason="AlgorithmError: bad data")
    execution = await service.advance(eid)
    assert _statuses(execution) == {"A": "Failed", "B": "Executing"}  # no new step starts; B runs on
    assert execution.pipeline_execution_status.value == "Executing"
    assert execution.step("A").failure_reason == "AlgorithmError: bad data"
    plane.end("B")
    execution = await service.advance(eid)
    assert execution.pipeline_execution_status.value == "Failed"
    assert execution.failure_reason == "Step A failed: AlgorithmError: bad data"

    retried = await service.retry_execution({"PipelineExecutionArn": execution.pipeline_execution_arn,
                                             "ClientRequestToken": "r" * 32})
    assert retried.pipeline_execution_status.value == "Executing"
    execution = await service.advance(eid)
    assert _statuses(execution) == {"A": "Executing", "B": "Succeeded"}
    assert execution.step("A").attempt_count == 2
    plane.end("A")
    execution = await service.advance(eid)
    plane.end("After")
    assert (await service.advance(eid)).pipeline_execution_status.value == "Succeeded"


async def test_stop_stops_the_running_jobs_and_starts_nothing_more(world: Any) -> None:
    service, plane, events, _ = world
    eid = await _start(service, _definition(_training("A"), _training("After", DependsOn=["A"])))
    execution = await service.advance(eid)
    await service.stop_execution(execution.pipeline_execution_arn)
    execution = await service.advance(eid)
    assert execution.pipeline_execution_status.value == "Stopping"
    assert _statuses(execution) == {"A": "Stopping"}
    assert "StopTrainingJob" in plane.calls
    plane.end("A", "Stopped")
    execution = await service.advance(eid)
    assert (execution.pipeline_execution_status.value, _statuses(execution)) == ("Stopped", {"A": "Stopped"})
    assert events.execution() == ["Executing", "Stopping", "Stopped"]
    with pytest.raises(ValidationException, match="only an Executing execution can be stopped"):
        await service.stop_execution(execution.pipeline_execution_arn)


async def test_a_cached_step_reuses_the_latest_identical_run_within_its_expiry(world: Any) -> None:
    service, plane, _, clock = world
    cached = _training("A", CacheConfig={"Enabled": True, "ExpireAfter": "PT1H"})
    eid = await _start(service, _definition(cached))
    await service.advance(eid)
    plane.end("A", ModelArtifacts={"S3ModelArtifacts": "s3://b/m"})
    first = await service.advance(eid)
    assert first.pipeline_execution_status.value == "Succeeded"

    clock.now += timedelta(minutes=30)
    again = await service.advance(await _start(service, _definition(cached), token="u" * 32))
    assert again.pipeline_execution_status.value == "Succeeded" and len(plane.jobs) == 1
    assert again.steps[0].cache_hit_result == {"SourcePipelineExecutionArn": first.pipeline_execution_arn}
    assert again.steps[0].properties == first.steps[0].properties

    # A different parameter value is another step; past ExpireAfter nothing is reused either.
    other = await service.advance(await _start(service, _definition(cached), token="v" * 32,
                                               PipelineParameters=[{"Name": "NumRound", "Value": "9"}]))
    assert other.steps[0].cache_hit_result is None and len(plane.jobs) == 2
    clock.now += timedelta(hours=2)
    late = await service.advance(await _start(service, _definition(cached), token="w" * 32))
    assert late.steps[0].cache_hit_result is None and len(plane.jobs) == 3


async def test_a_start_whose_round_died_is_taken_over_after_the_grace(world: Any) -> None:
    service, plane, _, clock = world
    eid = await _start(service, _definition(_training("A")))

    def claim_only(e: PipelineExecution) -> PipelineExecution:
        return plan(e, parse_definition(e.pipeline_definition), {}, "a-dead-round", clock())

    await service.engine.update(eid, claim_only)  # claimed, never performed: its process died
    assert _statuses(await service.advance(eid)) == {"A": "Starting"} and plane.jobs == {}
    clock.now += timedelta(seconds=31)
    assert _statuses(await service.advance(eid)) == {"A": "Executing"} and len(plane.jobs) == 1


async def test_a_start_repeated_with_its_token_names_the_same_execution(world: Any) -> None:
    service, _, _, _ = world
    first = await _start(service, LINEAR)
    assert await _start(service, LINEAR) == first
    assert await _start(service, LINEAR, token="z" * 32) != first
    with pytest.raises(ValidationException, match="Parameter NumRound of type Integer cannot take the value 'x'"):
        await _start(service, LINEAR, token="y" * 32, PipelineParameters=[{"Name": "NumRound", "Value": "x"}])


_INTERNAL = [{"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 10, "BackoffRate": 2.0,
              "MaxAttempts": 2}]


async def test_a_job_failing_with_an_internal_error_is_retried_as_its_policy_says(world: Any) -> None:
    service, plane, events, clock = world
    eid = await _start(service, _definition(_training("A", RetryPolicies=_INTERNAL)))
    first = (await service.advance(eid)).step("A").resource_name
    plane.end("A", "Failed", FailureReason="InternalServerError: could not start the container")
    execution = await service.advance(eid)
    assert _statuses(execution) == {"A": "Starting"} and execution.step("A").attempt_count == 2
    assert len(plane.jobs) == 1  # the next attempt waits IntervalSeconds
    clock.now += timedelta(seconds=10)
    execution = await service.advance(eid)
    assert _statuses(execution) == {"A": "Executing"} and len(plane.jobs) == 2
    assert execution.step("A").resource_name != first  # each attempt is a job of its own

    plane.end("A", "Failed", FailureReason="InternalServerError: the job's worker was lost")
    await service.advance(eid)
    clock.now += timedelta(seconds=19)  # the second retry waits 10 * 2.0 s
    assert len((await service.advance(eid)).steps) == 1 and len(plane.jobs) == 2
    clock.now += timedelta(seconds=1)
    assert (await service.advance(eid)).step("A").attempt_count == 3 and len(plane.jobs) == 3

    plane.end("A", "Failed", FailureReason="InternalServerError: again")  # MaxAttempts retries were made
    execution = await service.advance(eid)
    assert execution.pipeline_execution_status.value == "Failed"
    assert (execution.step("A").step_status.value, execution.step("A").attempt_count) == ("Failed", 3)
    assert events.execution() == ["Executing", "Failed"]


async def test_a_user_s_error_or_a_type_no_policy_lists_is_not_retried(world: Any) -> None:
    service, plane, _, _ = world
    capacity = [{**_INTERNAL[0], "ExceptionType": ["SageMaker.CAPACITY_ERROR"]}]
    eid = await _start(service, _definition(_training("A", RetryPolicies=_INTERNAL),
                                            _training("B", RetryPolicies=capacity)))
    await service.advance(eid)
    plane.end("A", "Failed", FailureReason="AlgorithmError: bad data")
    plane.end("B", "Failed", FailureReason="InternalServerError: lost")
    execution = await service.advance(eid)
    assert _statuses(execution) == {"A": "Failed", "B": "Failed"} and len(plane.jobs) == 2
    assert execution.pipeline_execution_status.value == "Failed"


async def test_a_throttled_request_is_retried_until_its_policy_expires(world: Any) -> None:
    service, plane, _, clock = world
    policy = [{"ExceptionType": ["Step.THROTTLING"], "IntervalSeconds": 30, "BackoffRate": 1.0, "ExpireAfterMin": 1}]
    eid = await _start(service, _definition(_training("A", RetryPolicies=policy)))
    calls = 0
    real = plane.__call__

    class Throttled(ValidationException):
        code = "ThrottlingException"

    async def throttled(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        if operation == "CreateTrainingJob":
            calls += 1
            raise Throttled("Rate exceeded")
        return await real(operation, params)

    service.engine.invoke = throttled
    assert _statuses(await service.advance(eid)) == {"A": "Starting"} and calls == 1
    clock.now += timedelta(seconds=30)
    assert _statuses(await service.advance(eid)) == {"A": "Starting"} and calls == 2
    clock.now += timedelta(seconds=30)  # a fourth attempt would start 90 s after the first: past a minute
    execution = await service.advance(eid)
    assert (calls, _statuses(execution)) == (3, {"A": "Failed"})
    assert execution.step("A").attempt_count == 3
    assert execution.step("A").failure_reason == "ThrottlingException: Rate exceeded"


async def test_retry_policies_sagemaker_would_refuse_are_refused_at_create(world: Any) -> None:
    service, _, _, _ = world
    bad = [{"ExceptionType": ["Step.NOPE"], "MaxAttempts": 1}]
    with pytest.raises(ValidationException, match="Step A: a retry policy's ExceptionType"):
        await _start(service, _definition(_training("A", RetryPolicies=bad)))
    both = [{"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 1, "ExpireAfterMin": 3}]
    with pytest.raises(ValidationException, match="one of MaxAttempts and ExpireAfterMin"):
        await _start(service, _definition(_training("A", RetryPolicies=both)))


FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:score"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/approvals"


def _lambda(name: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Lambda", "FunctionArn": FUNCTION, **extra,
            "OutputParameters": [{"OutputName": "score", "OutputType": "Float"},
                                 {"OutputName": "label", "OutputType": "String"}],
            "Arguments": {"rounds": {"Get": "Parameters.NumRound"}}}


def _uses(name: str, path: str) -> dict[str, Any]:
    return {"Name": name, "Type": "Condition", "Arguments": {"Conditions": [
        {"Type": "GreaterThan", "LeftValue": {"Get": path}, "RightValue": {"Get": "Parameters.Threshold"}}]}}


async def test_a_lambda_step_s_outputs_are_its_properties_downstream(world: Any) -> None:
    service, _, _, _ = world
    events: list[dict[str, Any]] = []

    async def invoke(arn: str, payload: bytes) -> tuple[bytes, str | None]:
        assert arn == FUNCTION
        events.append(json.loads(payload))
        return json.dumps({"score": 2, "label": "good", "extra": 1}).encode(), None

    service.engine.invoke_function = invoke
    eid = await _start(service, _definition(_lambda("Score"), _uses("Check", "Steps.Score.OutputParameters['score']")))
    execution = await service.advance(eid)
    assert execution.pipeline_execution_status.value == "Succeeded" and events == [{"rounds": 3}]
    assert execution.step("Score").metadata == {"Lambda": {"Arn": FUNCTION, "OutputParameters": [
        {"Name": "score", "Value": "2.0"}, {"Name": "label", "Value": "good"}]}}
    assert execution.step("Check").outcome is True


async def test_a_lambda_step_fails_with_the_function_s_error_or_a_missing_output(world: Any) -> None:
    service, _, _, _ = world
    answers = [(json.dumps({"errorMessage": "no model", "errorType": "KeyError"}).encode(), "Unhandled"),
               (json.dumps({"score": 1}).encode(), None)]

    async def invoke(arn: str, payload: bytes) -> tuple[bytes, str | None]:
        return answers.pop(0)

    service.engine.invoke_function = invoke
    execution = await service.advance(await _start(service, _definition(_lambda("Score"))))
    assert execution.step("Score").failure_reason == "KeyError: no model"
    execution = await service.advance(await _start(service, _definition(_lambda("Score")), token="u" * 32))
    assert "the output parameter label was not given" in execution.step("Score").failure_reason


async def test_a_get_on_an_output_a_lambda_step_does_not_declare_is_refused_at_create(world: Any) -> None:
    service, _, _, _ = world
    with pytest.raises(ValidationException, match=r"Step Check: .*OutputParameters\['<name>'\] of its outputs"):
        await _start(service, _definition(_lambda("Score"), _uses("Check", "Steps.Score.OutputParameters['rmse']")))


def _callback(name: str) -> dict[str, Any]:
    return {"Name": name, "Type": "Callback", "SqsQueueUrl": QUEUE,
            "OutputParameters": [{"OutputName": "approved", "OutputType": "Boolean"}],
            "Arguments": {"model": "m", "rounds": {"Get": "Parameters.NumRound"}}}


@pytest.fixture()
def sent(world: Any) -> list[tuple[str, dict[str, Any]]]:
    messages: list[tuple[str, dict[str, Any]]] = []

    async def send(url: str, body: str) -> None:
        messages.append((url, json.loads(body)))

    world[0].engine.send_message = send
    return messages


async def test_a_callback_step_waits_for_its_token_and_takes_its_outputs(world: Any, sent: list[Any]) -> None:
    service, _, _, _ = world
    definition = _definition(_callback("Approve"), {**_uses("Check", "Steps.Approve.OutputParameters['approved']"),
                                                    "Arguments": {"Conditions": [{
                                                        "Type": "Equals", "RightValue": True, "LeftValue": {
                                                            "Get": "Steps.Approve.OutputParameters['approved']"}}]}})
    eid = await _start(service, definition)
    execution = await service.advance(eid)
    assert _statuses(execution) == {"Approve": "Executing"}
    (url, message), = sent
    token = message["token"]
    assert url == QUEUE and len(token) == 10
    assert message == {"token": token, "pipelineExecutionArn": execution.pipeline_execution_arn,
                       "arguments": {"model": "m", "rounds": 3}, "status": "Executing"}
    assert execution.step("Approve").metadata == {"Callback": {"CallbackToken": token, "SqsQueueUrl": QUEUE}}
    with pytest.raises(ValidationException, match="approved of type Boolean cannot take the value 'maybe'"):
        await service.complete_callback({"CallbackToken": token, "OutputParameters": [
            {"Name": "approved", "Value": "maybe"}]}, succeeded=True)
    await service.complete_callback({"CallbackToken": token, "OutputParameters": [
        {"Name": "approved", "Value": "true"}]}, succeeded=True)
    execution = await service.advance(eid)
    assert execution.pipeline_execution_status.value == "Succeeded"
    assert execution.step("Approve").metadata["Callback"]["OutputParameters"] == [{"Name": "approved",
                                                                                   "Value": "true"}]
    assert execution.step("Check").outcome is True
    with pytest.raises(ValidationException, match="No step waits for callback token 0123456789"):
        await service.complete_callback({"CallbackToken": "0123456789"}, succeeded=False)


async def test_a_stopped_callback_step_sends_stopping_and_waits_for_its_outcome(world: Any, sent: list[Any]) -> None:
    service, _, _, _ = world
    eid = await _start(service, _definition(_callback("Approve")))
    execution = await service.advance(eid)
    await service.stop_execution(execution.pipeline_execution_arn)
    execution = await service.advance(eid)
    assert [m["status"] for _, m in sent] == ["Executing", "Stopping"]
    assert (execution.pipeline_execution_status.value, _statuses(execution)) == ("Stopping", {"Approve": "Stopping"})
    await service.advance(eid)
    assert len(sent) == 2  # told once
    await service.complete_callback({"CallbackToken": sent[0][1]["token"], "FailureReason": "cleaned up"},
                                    succeeded=False)
    execution = await service.advance(eid)
    assert execution.pipeline_execution_status.value == "Stopped"
    assert execution.step("Approve").failure_reason == "cleaned up"


class CountingBackend(MemoryBackend):
    """Records the keys read and the prefixes listed."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []
        self.listed: list[str] = []

    def forget(self) -> None:
        self.reads.clear()
        self.listed.clear()

    async def read(self, key: str) -> Any:
        self.reads.append(key)
        return await super().read(key)

    async def keys(self, prefix: str) -> list[str]:
        self.listed.append(prefix)
        return await super().keys(prefix)


async def test_a_sweep_reads_only_the_unfinished_executions_not_the_finished_ones() -> None:
    backend = CountingBackend()
    first, plane, _, clock = _node(backend)
    await first.advance_unfinished()  # the node's sweep at start, before any execution
    for n in range(12):
        clock.now += timedelta(seconds=1)
        eid = await _start(first, _definition({"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}),
                           token=f"{n:032d}")
        assert (await first.advance(eid)).pipeline_execution_status.value == "Failed"
    await first.update_pipeline({"PipelineName": "p", "PipelineDefinition": _definition(_training("Train"))})
    clock.now += timedelta(seconds=1)
    running = await _start(first, "", token="r" * 32)
    await first.advance(running)
    second, _, _, _ = _node(backend, plane, clock)  # the node restarted: nothing held in memory
    for node in (second, second, first):
        backend.forget()
        assert await node.advance_unfinished() == 1
        assert {k for k in backend.reads if k.startswith("e/")} == {f"e/{running}.json"}
        assert not [p for p in backend.listed if p.startswith("e/")]
    plane.end("Train")
    backend.forget()
    assert await second.advance_unfinished() == 1  # it ends now
    assert await second.advance_unfinished() == 0
    listed, _ = await second.list_executions({"PipelineName": "p", "MaxResults": 2})
    assert [e.pipeline_execution_id for e in listed] == [running, _last_failed(second)]


def _last_failed(service: PipelineService) -> str:
    return execution_id_for(service.arn("p"), f"{11:032d}")


async def test_a_callback_token_finds_its_execution_with_one_read() -> None:
    backend = CountingBackend()
    service, _, _, _ = _node(backend)
    sent: list[tuple[str, dict[str, Any]]] = []

    async def send(url: str, body: str) -> None:
        sent.append((url, json.loads(body)))

    service.engine.send_message = send
    await service.advance_unfinished()
    for n in range(5):
        eid = await _start(service, _definition(_callback("Approve")), token=f"{n:032d}")
        await service.advance(eid)
    other, _, _, _ = _node(backend)
    backend.forget()
    token = sent[2][1]["token"]
    after = await other.complete_callback({"CallbackToken": token, "FailureReason": "no"}, succeeded=False)
    assert after.step("Approve").step_status.value == "Failed"
    executions_read = [k for k in backend.reads if k.startswith("e/")]
    assert set(executions_read) == {f"e/{after.pipeline_execution_id}.json"}
    assert not [p for p in backend.listed if p.startswith("e/")]
