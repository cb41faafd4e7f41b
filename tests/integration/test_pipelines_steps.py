"""SageMaker Pipelines' retries and the step types beyond jobs, through the SageMaker Python SDK v2, against
a node.

``RetryPolicies`` as SageMaker applies them: a processing job whose container cannot start (the platform's
``InternalServerError``) is tried again, each attempt a job of its own, until ``MaxAttempts`` retries were
made, while a job failing with the user's own error is not. Jobs are tiny scikit-learn processing runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from sagemaker.processing import Processor  # a dev dependency: its absence must fail, not skip
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.retry import SageMakerJobExceptionTypeEnum, SageMakerJobStepRetryPolicy
from sagemaker.workflow.steps import ProcessingStep

from tests.sdk_env import REGION, ROLE, sdk_environment
from tests.support import NodeThread, free_port_settings

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
