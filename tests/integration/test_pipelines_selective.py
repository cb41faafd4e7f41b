"""SageMaker Pipelines' selective execution through the SageMaker Python SDK v2, against a node.

``pipeline.start(selective_execution_config=SelectiveExecutionConfig(selected_steps=[...]))`` runs the
chosen steps only: the steps they read keep the outputs of the source execution (the latest one, as the SDK
finds it, or the one named), listed with their ``SelectiveExecutionResult``, and the steps after them do
not run. Bad selections are refused with the error code boto3 users see. Jobs are tiny scikit-learn
processing runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor  # a dev dependency: must not skip
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.selective_execution_config import SelectiveExecutionConfig
from sagemaker.workflow.steps import ProcessingStep

from tests.sdk_env import REGION, ROLE, sdk_environment
from tests.support import NodeThread

pytestmark = pytest.mark.sdk

SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
WRITE = "import os; os.makedirs('/opt/ml/processing/a', exist_ok=True); open('/opt/ml/processing/a/out.txt', 'w')" \
        ".write('from-A')"
APPEND = "import os; text = open('/opt/ml/processing/in/out.txt').read(); os.makedirs('/opt/ml/processing/b', " \
         "exist_ok=True); open('/opt/ml/processing/b/out.txt', 'w').write(text + '-B')"


@pytest.fixture(scope="module")
def session(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineSession]:
    """A ``PipelineSession`` found from the environment a user exports."""
    with sdk_environment(node, tmp_path_factory.mktemp("sdk-home")):
        yield PipelineSession(boto_session=boto3.Session(region_name=REGION),
                              default_bucket=node.settings.artifacts_bucket)


def _processor(session: PipelineSession, code: str) -> Processor:
    return Processor(role=ROLE, image_uri=SKLEARN, instance_count=1, instance_type="ml.m5.large",
                     entrypoint=["python3", "-c", code], volume_size_in_gb=1, max_runtime_in_seconds=120,
                     sagemaker_session=session)


def _wait(execution: Any) -> dict[str, Any]:
    """``execution.wait()`` as a user calls it (its polls shortened), then the execution's description."""
    try:
        execution.wait(delay=1, max_attempts=180)
    except Exception:  # noqa: BLE001 - the waiter raises on Failed; the description says why
        pass
    return execution.describe()


@pytest.fixture(scope="module")
def pipeline(session: PipelineSession) -> Pipeline:
    """Make (writes a file) -> Extend (reads it, writes another) -> Stop (a Fail step)."""
    make = ProcessingStep("Make", step_args=_processor(session, WRITE).run(
        outputs=[ProcessingOutput(output_name="a", source="/opt/ml/processing/a")]))
    extend = ProcessingStep("Extend", step_args=_processor(session, APPEND).run(
        inputs=[ProcessingInput(source=make.properties.ProcessingOutputConfig.Outputs["a"].S3Output.S3Uri,
                                destination="/opt/ml/processing/in")],
        outputs=[ProcessingOutput(output_name="b", source="/opt/ml/processing/b")]))
    stop = FailStep("Stop", error_message="stopped after Extend", depends_on=[extend])
    p = Pipeline("selective", steps=[make, extend, stop], sagemaker_session=session)
    p.upsert(role_arn=ROLE)
    return p


def _jobs_of(node: NodeThread, execution_arn: str) -> list[str]:
    execution_id = execution_arn.rsplit("/", 1)[-1]
    return [j["ProcessingJobName"] for j in node.client("sagemaker").list_processing_jobs(
        NameContains=execution_id)["ProcessingJobSummaries"]]


def _read(node: NodeThread, uri: str) -> str:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return node.client("s3").get_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/out.txt")["Body"].read().decode()


def test_a_selected_step_reruns_on_the_source_execution_s_outputs_and_nothing_after_it_runs(
        node: NodeThread, pipeline: Pipeline) -> None:
    source = pipeline.start()
    assert _wait(source)["FailureReason"] == "stopped after Extend"
    source_steps = {s["StepName"]: s for s in source.list_steps()}

    # The SDK finds the latest execution itself (reference_latest_execution) and sends its ARN.
    rerun = pipeline.start(selective_execution_config=SelectiveExecutionConfig(selected_steps=["Extend"]))
    described = _wait(rerun)

    assert described["PipelineExecutionStatus"] == "Succeeded", described.get("FailureReason")
    assert described["SelectiveExecutionConfig"] == {"SourcePipelineExecutionArn": source.arn,
                                                     "SelectedSteps": [{"StepName": "Extend"}]}
    steps = {s["StepName"]: s for s in rerun.list_steps()}
    assert set(steps) == {"Make", "Extend"}  # Stop, after the selection, does not run
    assert steps["Make"]["SelectiveExecutionResult"] == {"SourcePipelineExecutionArn": source.arn}
    assert (steps["Make"]["StepStatus"], steps["Make"]["Metadata"]) == ("Succeeded", source_steps["Make"]["Metadata"])
    assert "SelectiveExecutionResult" not in steps["Extend"]
    assert len(_jobs_of(node, rerun.arn)) == 1  # Extend's job; Make's outputs are the source's
    sm = node.client("sagemaker")
    extended = sm.describe_processing_job(ProcessingJobName=steps["Extend"]["Metadata"]["ProcessingJob"]["Arn"]
                                          .rsplit("/", 1)[-1])
    made = sm.describe_processing_job(ProcessingJobName=source_steps["Make"]["Metadata"]["ProcessingJob"]["Arn"]
                                      .rsplit("/", 1)[-1])
    assert extended["ProcessingInputs"][0]["S3Input"]["S3Uri"] == \
        made["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert _read(node, extended["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]) == "from-A-B"


def test_bad_selections_are_refused_at_start(node: NodeThread, pipeline: Pipeline) -> None:
    sm = node.client("sagemaker")
    with pytest.raises(ClientError) as unknown:
        sm.start_pipeline_execution(PipelineName="selective", SelectiveExecutionConfig={
            "SelectedSteps": [{"StepName": "Nope"}]})
    assert unknown.value.response["Error"]["Code"] == "ValidationException"
    assert "Nope" in unknown.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as no_source:
        sm.start_pipeline_execution(PipelineName="selective", SelectiveExecutionConfig={
            "SelectedSteps": [{"StepName": "Extend"}]})
    assert no_source.value.response["Error"]["Code"] == "ValidationException"
    assert "Make" in no_source.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as gap:  # Extend lies between the two: it must be selected too
        sm.start_pipeline_execution(PipelineName="selective", SelectiveExecutionConfig={
            "SelectedSteps": [{"StepName": "Make"}, {"StepName": "Stop"}]})
    assert gap.value.response["Error"]["Code"] == "ValidationException"
    assert "Extend" in gap.value.response["Error"]["Message"]
