"""SageMaker Pipelines' retries and the step types beyond jobs, through the SageMaker Python SDK v2, against
a node.

``RetryPolicies`` as SageMaker applies them: a processing job whose container cannot start (the platform's
``InternalServerError``) is tried again, each attempt a job of its own, until ``MaxAttempts`` retries were
made, while a job failing with the user's own error is not. A Lambda step invokes a function of the node's
Lambda service and its outputs decide a condition downstream; a Callback step's message reaches an SQS queue,
``SendPipelineExecutionStepSuccess`` hands its outputs to the next step, and a stop sends ``Stopping`` and
waits for the outcome. Jobs are tiny scikit-learn processing runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from sagemaker.lambda_helper import Lambda  # a dev dependency: its absence must fail, not skip
from sagemaker.processing import Processor
from sagemaker.workflow.callback_step import CallbackOutput, CallbackOutputTypeEnum, CallbackStep
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThan
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join
from sagemaker.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep
from sagemaker.workflow.parameters import ParameterInteger
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.retry import SageMakerJobExceptionTypeEnum, SageMakerJobStepRetryPolicy
from sagemaker.workflow.steps import ProcessingStep

from tests.integration.functions_support import create
from tests.sdk_env import REGION, ROLE, sdk_environment
from tests.support import NodeThread, free_port_settings, wait_for

pytestmark = pytest.mark.sdk

SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
# A user's image whose interpreter is missing: its containers cannot start (the platform's InternalServerError).
BROKEN = "123456789012.dkr.ecr.us-east-1.amazonaws.com/broken:1"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A node that knows the broken image."""
    state = tmp_path_factory.mktemp("node")
    n = NodeThread(free_port_settings(state, image_interpreters={BROKEN: str(state / "no-such-python")})).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def session(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineSession]:
    """A ``PipelineSession`` found from the environment a user exports."""
    with sdk_environment(node, tmp_path_factory.mktemp("sdk-home")):
        yield PipelineSession(boto_session=boto3.Session(region_name=REGION),
                              default_bucket=node.settings.artifacts_bucket)


def _processor(session: PipelineSession, entrypoint: list[str], image: str = SKLEARN) -> Processor:
    return Processor(role=ROLE, image_uri=image, instance_count=1, instance_type="ml.m5.large",
                     entrypoint=entrypoint, volume_size_in_gb=1, max_runtime_in_seconds=120,
                     sagemaker_session=session)


def _wait(execution: Any) -> dict[str, Any]:
    """``execution.wait()`` as a user calls it (its polls shortened), then the execution's description."""
    try:
        execution.wait(delay=1, max_attempts=180)
    except Exception:  # noqa: BLE001 - the waiter raises on Failed; the description says why
        pass
    return execution.describe()


def _by_name(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["StepName"]: s for s in steps}


def test_retry_policies_retry_a_job_s_internal_error_and_not_the_user_s(
        node: NodeThread, session: PipelineSession) -> None:
    internal = SageMakerJobStepRetryPolicy(failure_reason_types=[SageMakerJobExceptionTypeEnum.INTERNAL_ERROR],
                                           interval_seconds=1, backoff_rate=1.0, max_attempts=2)
    cannot_start = ProcessingStep("CannotStart", retry_policies=[internal], step_args=_processor(
        session, ["python3", "-c", "print('never')"], BROKEN).run())
    user_error = ProcessingStep("UserError", retry_policies=[internal], step_args=_processor(
        session, ["python3", "-c", "raise SystemExit('bad data')"]).run())
    pipeline = Pipeline("retried", steps=[cannot_start, user_error], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    described = _wait(execution)

    assert described["PipelineExecutionStatus"] == "Failed"
    steps = _by_name(execution.list_steps())
    assert (steps["CannotStart"]["StepStatus"], steps["CannotStart"]["AttemptCount"]) == ("Failed", 3)
    assert steps["CannotStart"]["FailureReason"].startswith("InternalServerError")
    assert (steps["UserError"]["StepStatus"], steps["UserError"]["AttemptCount"]) == ("Failed", 1)
    sm = node.client("sagemaker")
    jobs = sm.list_processing_jobs(NameContains=execution.arn.rsplit("/", 1)[-1])["ProcessingJobSummaries"]
    reasons = sorted(sm.describe_processing_job(ProcessingJobName=j["ProcessingJobName"])["FailureReason"].split(
        ":")[0] for j in jobs)
    assert reasons == ["AlgorithmError", *["InternalServerError"] * 3], reasons  # an attempt, a job
    assert steps["CannotStart"]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[-1] in {
        j["ProcessingJobName"] for j in jobs}


SCORE = """
def handler(event, context):
    if event.get("fail"):
        raise KeyError("no model")
    return {"score": event["rounds"] * 1.5, "label": f"rounds={event['rounds']}", "extra": True}
"""


def _score_step(name: str, rounds: Any, arn: str, **extra: Any) -> LambdaStep:
    return LambdaStep(name, lambda_func=Lambda(function_arn=arn), inputs={"rounds": rounds,
                                                                                                   **extra},
                      outputs=[LambdaOutput("score", LambdaOutputTypeEnum.Float),
                               LambdaOutput("label", LambdaOutputTypeEnum.String)])


@pytest.fixture(scope="module")
def score(node: NodeThread) -> str:
    """A function of the node's Lambda service that scores a number of rounds: its ARN."""
    return str(create(node.client("lambda"), "pipeline-score", SCORE)["FunctionArn"])


def test_a_lambda_step_s_outputs_decide_the_condition_after_it(session: PipelineSession, score: str) -> None:
    rounds = ParameterInteger("Rounds", default_value=2)
    step = _score_step("Score", rounds, score)
    too_low = FailStep("TooLow", error_message=Join(on=" ", values=["score of", step.properties.Outputs["label"],
                                                                    "is too low"]))
    check = ConditionStep("Check", conditions=[ConditionGreaterThan(left=step.properties.Outputs["score"], right=4)],
                          if_steps=[], else_steps=[too_low])
    pipeline = Pipeline("lambda-scored", parameters=[rounds], steps=[step, check], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)

    passed = pipeline.start(parameters={"Rounds": 3})
    assert _wait(passed)["PipelineExecutionStatus"] == "Succeeded"
    steps = _by_name(passed.list_steps())
    assert steps["Score"]["Metadata"]["Lambda"] == {"Arn": score, "OutputParameters": [
        {"Name": "score", "Value": "4.5"}, {"Name": "label", "Value": "rounds=3"}]}
    assert steps["Check"]["Metadata"]["Condition"]["Outcome"] == "True"

    failed = pipeline.start()
    described = _wait(failed)
    assert (described["PipelineExecutionStatus"], described["FailureReason"]) == ("Failed",
                                                                                  "score of rounds=2 is too low")


def test_a_lambda_step_fails_with_the_function_s_error(session: PipelineSession, score: str) -> None:
    pipeline = Pipeline("lambda-failed", steps=[_score_step("Score", 1, score, fail=True)],
                        sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    assert _wait(execution)["PipelineExecutionStatus"] == "Failed"
    (step,) = execution.list_steps()
    assert step["FailureReason"] == "KeyError: 'no model'"


def _callback_pipeline(node: NodeThread, session: PipelineSession, name: str, score: str) -> tuple[Pipeline, str]:
    sqs = node.client("sqs")
    url = sqs.create_queue(QueueName=f"{name}-requests")["QueueUrl"]
    approve = CallbackStep("Approve", sqs_queue_url=url, inputs={"model": "m-1", "rounds": 4},
                           outputs=[CallbackOutput("rounds", CallbackOutputTypeEnum.Integer)])
    scored = _score_step("Score", approve.properties.Outputs["rounds"], score)
    pipeline = Pipeline(name, steps=[approve, scored], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    return pipeline, url


def _receive(node: NodeThread, url: str) -> dict[str, Any]:
    sqs = node.client("sqs")

    def one() -> dict[str, Any] | None:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            return None
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        return json.loads(messages[0]["Body"])  # type: ignore[no-any-return]

    return wait_for(one, 60, what=f"a message on {url}")  # type: ignore[no-any-return]


def test_a_callback_step_s_message_and_its_success_round_trip(node: NodeThread, session: PipelineSession,
                                                              score: str) -> None:
    pipeline, url = _callback_pipeline(node, session, "approved", score)
    execution = pipeline.start()
    message = _receive(node, url)
    assert message == {"token": message["token"], "pipelineExecutionArn": execution.arn,
                       "arguments": {"model": "m-1", "rounds": 4}, "status": "Executing"}
    sm = node.client("sagemaker")
    assert sm.send_pipeline_execution_step_success(CallbackToken=message["token"], OutputParameters=[
        {"Name": "rounds", "Value": "6"}])["PipelineExecutionArn"] == execution.arn
    assert _wait(execution)["PipelineExecutionStatus"] == "Succeeded"
    steps = _by_name(execution.list_steps())
    assert steps["Approve"]["Metadata"]["Callback"] == {"CallbackToken": message["token"], "SqsQueueUrl": url,
                                                        "OutputParameters": [{"Name": "rounds", "Value": "6"}]}
    assert {"Name": "score", "Value": "9.0"} in steps["Score"]["Metadata"]["Lambda"]["OutputParameters"]
    with pytest.raises(sm.exceptions.ClientError, match="ValidationException"):
        sm.send_pipeline_execution_step_failure(CallbackToken="0123456789", FailureReason="x")


def test_a_stopped_callback_step_is_told_stopping_and_ends_on_its_answer(node: NodeThread,
                                                                          session: PipelineSession,
                                                                          score: str) -> None:
    pipeline, url = _callback_pipeline(node, session, "stopped-approval", score)
    execution = pipeline.start()
    token = _receive(node, url)["token"]
    execution.stop()
    assert _receive(node, url)["status"] == "Stopping"
    assert execution.describe()["PipelineExecutionStatus"] == "Stopping"  # until the callback answers
    node.client("sagemaker").send_pipeline_execution_step_failure(CallbackToken=token, FailureReason="cleaned up")
    wait_for(lambda: execution.describe()["PipelineExecutionStatus"] == "Stopped", 60,
             what="the execution to stop")  # the SDK's waiter knows no Stopped
    assert [s["StepName"] for s in execution.list_steps()] == ["Approve"]
