"""SageMaker Pipelines' EndpointConfig and Endpoint steps through the SageMaker Python SDK v2, against a node.

``EndpointConfigStep`` creates the configuration its ``pipeline_session.create_endpoint_config()`` arguments
describe, over the model a ``ModelStep`` created; ``EndpointStep`` creates the endpoint, or updates it when
it exists (as SageMaker's step chooses), and succeeds once the endpoint is ``InService``, so the execution's
end means the endpoint answers. The model is a tiny XGBoost classifier uploaded by the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from sagemaker.model import Model  # a dev dependency: its absence must fail, not skip
from sagemaker.workflow.endpoint_step import EndpointConfigStep, EndpointStep
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession

from tests.integration.hosting_support import IMAGE, csv_row, expected, model_archive, train_booster
from tests.sdk_env import REGION, ROLE, sdk_environment
from tests.support import NodeThread

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def session(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineSession]:
    """A ``PipelineSession`` found from the environment a user exports."""
    with sdk_environment(node, tmp_path_factory.mktemp("sdk-home")):
        yield PipelineSession(boto_session=boto3.Session(region_name=REGION),
                              default_bucket=node.settings.artifacts_bucket)


def _wait(execution: Any) -> dict[str, Any]:
    """``execution.wait()`` as a user calls it (its polls shortened), then the execution's description."""
    try:
        execution.wait(delay=1, max_attempts=180)
    except Exception:  # noqa: BLE001 - the waiter raises on Failed; the description says why
        pass
    return execution.describe()


def _upload(node: NodeThread, seed: int) -> str:
    key = f"pipelines-endpoints/{seed}/model.tar.gz"
    node.client("s3").put_object(Bucket=node.settings.artifacts_bucket, Key=key,
                                 Body=model_archive(train_booster(seed)))
    return f"s3://{node.settings.artifacts_bucket}/{key}"


def _deploying(session: PipelineSession, endpoint: str) -> Pipeline:
    """model -> endpoint config (named after the execution) -> endpoint (created or updated)."""
    model_data = ParameterString("ModelData")
    model = Model(image_uri=IMAGE, model_data=model_data, role=ROLE, sagemaker_session=session)
    create = ModelStep("MakeModel", step_args=model.create(instance_type="ml.m5.large"))
    config_name = Join(on="-", values=["deploy-cfg", ExecutionVariables.PIPELINE_EXECUTION_ID])
    config = EndpointConfigStep("Config", step_args=session.create_endpoint_config(
        name=config_name, model_name=create.properties.ModelName, initial_instance_count=1,
        instance_type="ml.m5.large"))
    deploy = EndpointStep("Deploy", step_args=session.create_endpoint(
        endpoint_name=endpoint, config_name=config.properties.EndpointConfigName))
    return Pipeline("deploying", parameters=[model_data], steps=[create, config, deploy],
                    sagemaker_session=session)


def test_endpoint_steps_create_then_update_the_endpoint_and_end_when_it_is_in_service(
        node: NodeThread, session: PipelineSession) -> None:
    pipeline = _deploying(session, "pipeline-deployed")
    pipeline.upsert(role_arn=ROLE)
    sm, runtime = node.client("sagemaker"), node.client("sagemaker-runtime")
    row = csv_row(np.array([0.5, -1.0, 0.25, 2.0]))

    for seed in (1, 2):  # the first execution creates the endpoint, the second updates it
        execution = pipeline.start(parameters={"ModelData": _upload(node, seed)})
        described = _wait(execution)
        assert described["PipelineExecutionStatus"] == "Succeeded", described.get("FailureReason")
        steps = {s["StepName"]: s for s in execution.list_steps()}
        config_name = f"deploy-cfg-{execution.arn.rsplit('/', 1)[-1]}"
        assert steps["Config"]["Metadata"]["EndpointConfig"]["Arn"] == sm.describe_endpoint_config(
            EndpointConfigName=config_name)["EndpointConfigArn"]
        endpoint = sm.describe_endpoint(EndpointName="pipeline-deployed")  # read once: no waiting here
        assert steps["Deploy"]["Metadata"]["Endpoint"]["Arn"] == endpoint["EndpointArn"]
        assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", config_name)
        answer = runtime.invoke_endpoint(EndpointName="pipeline-deployed", ContentType="text/csv", Body=row)
        assert float(answer["Body"].read().decode().strip()) == pytest.approx(expected(train_booster(seed), row),
                                                                             rel=1e-5)


def test_a_failed_endpoint_fails_the_step_with_its_reason(node: NodeThread, session: PipelineSession) -> None:
    pipeline = _deploying(session, "pipeline-broken")
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start(parameters={"ModelData": f"s3://{node.settings.artifacts_bucket}/no/such.tar.gz"})
    described = _wait(execution)

    assert described["PipelineExecutionStatus"] == "Failed"
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert steps["Deploy"]["StepStatus"] == "Failed"
    reason = node.client("sagemaker").describe_endpoint(EndpointName="pipeline-broken")["FailureReason"]
    assert described["FailureReason"] == f"Step Deploy failed: {reason}"
