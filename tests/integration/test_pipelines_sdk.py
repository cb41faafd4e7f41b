"""SageMaker Pipelines through the SageMaker Python SDK v2, unchanged, against a node.

``Pipeline.upsert()``, ``start()``, ``execution.wait()`` and ``list_steps()`` as users call them: a linear
process -> train -> evaluate -> condition -> register + model / fail pipeline (its re-run taking the
processing step from the cache and failing at the Fail step), a tuning step whose best model a model step
creates and a transform step scores with, parallel branches with and without a parallelism limit, a stop,
and bad definitions refused with the error codes boto3 users see. Jobs are small: built-in XGBoost on 200
rows and scikit-learn processing scripts.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from sagemaker.estimator import Estimator  # a dev dependency: its absence must fail, not skip
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.sklearn.processing import SKLearnProcessor
from sagemaker.transformer import Transformer
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionLessThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parallelism_config import ParallelismConfiguration
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep, TransformStep, TuningStep

from tests.sdk_env import REGION, ROLE, sdk_environment
from tests.support import NodeThread, observe_events, wait_for

pytestmark = pytest.mark.sdk

SCRIPTS = Path(__file__).parent / "pipeline_scripts"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
STEP_EVENTS = "SageMaker Model Building Pipeline Execution Step Status Change"
EXECUTION_EVENTS = "SageMaker Model Building Pipeline Execution Status Change"


@pytest.fixture(scope="module")
def session(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineSession]:
    """A ``PipelineSession`` found from the environment a user exports."""
    with sdk_environment(node, tmp_path_factory.mktemp("sdk-home")):
        yield PipelineSession(boto_session=boto3.Session(region_name=REGION),
                              default_bucket=node.settings.artifacts_bucket)


@pytest.fixture(scope="module")
def data(node: NodeThread) -> str:
    """200 rows of ``y = x @ w + noise`` (label first) under a prefix of the data bucket."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=200)
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    node.client("s3").put_object(Bucket=node.settings.data_bucket, Key="pipelines/raw/rows.csv",
                                 Body=buf.getvalue().encode())
    features = io.StringIO()
    np.savetxt(features, x[:20], delimiter=",", fmt="%.5f")
    node.client("s3").put_object(Bucket=node.settings.data_bucket, Key="pipelines/features/rows.csv",
                                 Body=features.getvalue().encode())
    return f"s3://{node.settings.data_bucket}/pipelines/raw/"


def _processor(session: PipelineSession) -> SKLearnProcessor:
    return SKLearnProcessor(framework_version="1.2-1", role=ROLE, instance_type="ml.m5.large", instance_count=1,
                            sagemaker_session=session)


def _linear(session: PipelineSession, data: str) -> Pipeline:
    """process -> train -> evaluate -> (mse <= threshold ? register + model : fail)."""
    input_data = ParameterString("InputData", default_value=data)
    num_round = ParameterInteger("NumRound", default_value=4)
    threshold = ParameterFloat("MseThreshold", default_value=100.0)
    proc = _processor(session)
    prep = ProcessingStep("Prep", cache_config=CacheConfig(enable_caching=True, expire_after="PT1H"),
                          step_args=proc.run(code=str(SCRIPTS / "prep.py"), inputs=[
                              ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
                              outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                                       ProcessingOutput(output_name="test", source="/opt/ml/processing/test")]))
    outputs = prep.properties.ProcessingOutputConfig.Outputs
    estimator = Estimator(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{session.default_bucket()}/pipelines/models", sagemaker_session=session,
                          hyperparameters={"num_round": num_round, "objective": "reg:squarederror"})
    train = TrainingStep("Train", step_args=estimator.fit({"train": TrainingInput(
        outputs["train"].S3Output.S3Uri, content_type="text/csv")}))
    report = PropertyFile(name="Report", output_name="evaluation", path="evaluation.json")
    # As AWS's pipeline examples do: the evaluation loads the XGBoost model, so it runs on the XGBoost image.
    scorer = ScriptProcessor(image_uri=IMAGE, command=["python3"], role=ROLE, instance_type="ml.m5.large",
                             instance_count=1, sagemaker_session=session)
    evaluate = ProcessingStep("Evaluate", property_files=[report], step_args=scorer.run(
        code=str(SCRIPTS / "evaluate.py"),
        inputs=[ProcessingInput(source=train.properties.ModelArtifacts.S3ModelArtifacts,
                                destination="/opt/ml/processing/model"),
                ProcessingInput(source=outputs["test"].S3Output.S3Uri, destination="/opt/ml/processing/test")],
        outputs=[ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")]))
    model = Model(image_uri=IMAGE, model_data=train.properties.ModelArtifacts.S3ModelArtifacts, role=ROLE,
                  sagemaker_session=session)
    register = ModelStep("Register", step_args=model.register(
        content_types=["text/csv"], response_types=["text/csv"], inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"], model_package_group_name="pipelines-linear", approval_status="Approved"))
    create = ModelStep("Serve", step_args=model.create(instance_type="ml.m5.large"))
    mse = JsonGet(step_name=evaluate.name, property_file=report, json_path="regression_metrics.mse.value")
    fail = FailStep("MseTooHigh", error_message=Join(on=" ", values=["mse", mse, "is above", threshold]))
    check = ConditionStep("CheckMse", conditions=[ConditionLessThanOrEqualTo(left=mse, right=threshold)],
                          if_steps=[register, create], else_steps=[fail])
    return Pipeline("linear", parameters=[input_data, num_round, threshold], steps=[prep, train, evaluate, check],
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


@pytest.fixture(scope="module")
def linear(node: NodeThread, session: PipelineSession, data: str) -> tuple[Pipeline, Any, str, str]:
    """The linear pipeline upserted (twice: create, then update) and run once with its defaults; the queues of
    two rules on the bus, one per pipeline event, made before it started."""
    step_events = observe_events(node, "pipeline-step-events", STEP_EVENTS)
    execution_events = observe_events(node, "pipeline-execution-events", EXECUTION_EVENTS)
    pipeline = _linear(session, data)
    pipeline.upsert(role_arn=ROLE, description="first")
    pipeline.upsert(role_arn=ROLE, description="second", tags=[{"Key": "team", "Value": "ml"}])
    return pipeline, pipeline.start(), step_events, execution_events


def _events(node: NodeThread, queue: str) -> list[dict[str, Any]]:
    """The ``detail`` of every event a queue holds now (read until it is empty)."""
    sqs, seen = node.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []):
        for m in messages:
            seen.append(json.loads(m["Body"])["detail"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return seen


def test_a_linear_pipeline_trains_evaluates_and_registers(node: NodeThread, linear: tuple[Pipeline, Any, str, str]
                                                          ) -> None:
    pipeline, execution, step_events, execution_events = linear
    described = _wait(execution)
    assert described["PipelineExecutionStatus"] == "Succeeded", described.get("FailureReason")
    assert described["PipelineExperimentConfig"] == {"ExperimentName": "linear",
                                                     "TrialName": execution.arn.rsplit("/", 1)[-1]}
    steps = execution.list_steps()
    names = [s["StepName"] for s in steps]  # the latest first; the two branch steps start in one round
    assert names[2:] == ["CheckMse", "Evaluate", "Train", "Prep"]
    assert set(names[:2]) == {"Register-RegisterModel", "Serve-CreateModel"}
    by_name = _by_name(steps)
    assert {s["StepStatus"] for s in steps} == {"Succeeded"} and {s["AttemptCount"] for s in steps} == {1}
    assert "MseTooHigh" not in by_name  # the branch not taken never starts
    assert by_name["CheckMse"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    sm = node.client("sagemaker")
    train = sm.describe_training_job(TrainingJobName=by_name["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/")[-1])
    assert train["TrainingJobName"].startswith("pipelines-") and train["HyperParameters"]["num_round"] == "4"
    prep = by_name["Prep"]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[-1]
    assert train["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == sm.describe_processing_job(
        ProcessingJobName=prep)["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    package = sm.describe_model_package(ModelPackageName=by_name["Register-RegisterModel"]["Metadata"][
        "RegisterModel"]["Arn"])
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == train["ModelArtifacts"][
        "S3ModelArtifacts"]
    model = sm.describe_model(ModelName=by_name["Serve-CreateModel"]["Metadata"]["Model"]["Arn"].rsplit("/")[-1])
    assert model["PrimaryContainer"]["ModelDataUrl"] == train["ModelArtifacts"]["S3ModelArtifacts"]
    # Two versions, the tags upsert added, the parameters the execution ran with.
    assert [v["PipelineVersionId"] for v in sm.list_pipeline_versions(PipelineName="linear")[
        "PipelineVersionSummaries"]] == [2, 1]
    assert sm.describe_pipeline(PipelineName="linear")["PipelineDescription"] == "second"
    assert sm.list_tags(ResourceArn=pipeline.describe()["PipelineArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert {p["Name"]: p["Value"] for p in execution.list_parameters()["PipelineParameters"]} == {
        "InputData": f"s3://{node.settings.data_bucket}/pipelines/raw/", "NumRound": "4", "MseThreshold": "100.0"}

    steps_seen = _events(node, step_events)
    train = next(d for d in steps_seen if d["stepName"] == "Train" and d["currentStepStatus"] == "Succeeded")
    assert train["metadata"] == {"trainingJob": {"arn": by_name["Train"]["Metadata"]["TrainingJob"]["Arn"]}}
    assert (train["previousStepStatus"], train["stepType"], train["pipelineExecutionArn"]) == (
        "Executing", "Training", execution.arn)
    ends = [d for d in _events(node, execution_events) if d["pipelineExecutionArn"] == execution.arn]
    assert [(d.get("previousPipelineExecutionStatus"), d["currentPipelineExecutionStatus"]) for d in ends] == [
        (None, "Executing"), ("Executing", "Succeeded")]


def test_a_rerun_takes_the_processing_step_from_the_cache_and_fails_at_the_fail_step(
        node: NodeThread, linear: tuple[Pipeline, Any, str, str]) -> None:
    pipeline, first, _, _ = linear
    assert _wait(first)["PipelineExecutionStatus"] == "Succeeded"
    execution = pipeline.start(parameters={"MseThreshold": -1.0})
    described = _wait(execution)
    assert described["PipelineExecutionStatus"] == "Failed"
    by_name = _by_name(execution.list_steps())
    mse = by_name["MseTooHigh"]["Metadata"]["Fail"]["ErrorMessage"]
    assert mse.startswith("mse ") and mse.endswith(" is above -1.0")
    assert described["FailureReason"] == by_name["MseTooHigh"]["FailureReason"] == mse
    assert by_name["Prep"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first.arn}
    assert by_name["Prep"]["Metadata"] == _by_name(first.list_steps())["Prep"]["Metadata"]  # no new job
    assert "CacheHitResult" not in by_name["Train"]  # not cached: it ran again
    assert by_name["CheckMse"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    assert "Register-RegisterModel" not in by_name


def test_a_tuning_step_s_best_model_is_created_and_scores_in_a_transform_step(
        node: NodeThread, session: PipelineSession, data: str) -> None:
    bucket = session.default_bucket()
    estimator = Estimator(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{bucket}/pipelines/tuned", sagemaker_session=session,
                          hyperparameters={"num_round": 3, "objective": "reg:squarederror"})
    tuner = HyperparameterTuner(estimator, objective_metric_name="validation:rmse", objective_type="Minimize",
                                hyperparameter_ranges={"eta": ContinuousParameter(0.1, 0.5)}, max_jobs=2,
                                max_parallel_jobs=2)
    channels = {name: TrainingInput(data, content_type="text/csv") for name in ("train", "validation")}
    tune = TuningStep("Tune", step_args=tuner.fit(channels))
    model = Model(image_uri=IMAGE, role=ROLE, sagemaker_session=session,
                  model_data=tune.get_top_model_s3_uri(top_k=0, s3_bucket=bucket, prefix="pipelines/tuned"))
    best = ModelStep("Best", step_args=model.create(instance_type="ml.m5.large"))
    transformer = Transformer(model_name=best.properties.ModelName, instance_count=1, instance_type="ml.m5.large",
                              output_path=f"s3://{bucket}/pipelines/scored", sagemaker_session=session)
    score = TransformStep("Score", step_args=transformer.transform(
        data=f"s3://{node.settings.data_bucket}/pipelines/features/", content_type="text/csv"))
    pipeline = Pipeline("tuned", steps=[tune, best, score], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    described = _wait(execution)
    assert described["PipelineExecutionStatus"] == "Succeeded", described.get("FailureReason")
    steps = _by_name(execution.list_steps())
    sm = node.client("sagemaker")
    tuning = sm.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=steps["Tune"]["Metadata"]["TuningJob"]["Arn"].rsplit("/", 1)[-1])
    created = sm.describe_model(ModelName=steps["Best-CreateModel"]["Metadata"]["Model"]["Arn"].rsplit("/", 1)[-1])
    assert created["PrimaryContainer"]["ModelDataUrl"] == (
        f"s3://{bucket}/pipelines/tuned/{tuning['BestTrainingJob']['TrainingJobName']}/output/model.tar.gz")
    scored = sm.describe_transform_job(TransformJobName=steps["Score"]["Metadata"]["TransformJob"]["Arn"].rsplit(
        "/", 1)[-1])
    assert (scored["TransformJobStatus"], scored["ModelName"]) == ("Completed", created["ModelName"])
    out = node.client("s3").get_object(Bucket=bucket, Key="pipelines/scored/rows.csv.out")["Body"].read()
    assert len(out.decode().split()) == 20


def _marks(session: PipelineSession, names: tuple[str, ...], after: tuple[str, ...] = ()) -> list[ProcessingStep]:
    proc = _processor(session)
    return [ProcessingStep(name, depends_on=list(after) or None, step_args=proc.run(
        code=str(SCRIPTS / "mark.py"), arguments=[name],
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])) for name in names]


def test_independent_branches_run_in_parallel_and_a_join_waits_for_both(session: PipelineSession) -> None:
    pipeline = Pipeline("branches", steps=[*_marks(session, ("Left", "Right")),
                                           *_marks(session, ("Join",), after=("Left", "Right"))],
                        sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    assert _wait(execution)["PipelineExecutionStatus"] == "Succeeded"
    steps = _by_name(execution.list_steps())
    assert steps["Left"]["StartTime"] == steps["Right"]["StartTime"]  # started in the same round
    assert steps["Join"]["StartTime"] >= max(steps["Left"]["EndTime"], steps["Right"]["EndTime"])

    one_at_a_time = pipeline.start(parallelism_config=ParallelismConfiguration(max_parallel_execution_steps=1))
    assert _wait(one_at_a_time)["PipelineExecutionStatus"] == "Succeeded"
    steps = _by_name(one_at_a_time.list_steps())
    first, second = sorted((steps["Left"], steps["Right"]), key=lambda s: s["StartTime"])
    assert second["StartTime"] >= first["EndTime"]


def test_stop_stops_the_running_job_and_nothing_after_it_starts(node: NodeThread, session: PipelineSession) -> None:
    proc = _processor(session)
    wait = ProcessingStep("Wait", step_args=proc.run(code=str(SCRIPTS / "wait.py")))
    after = _marks(session, ("After",), after=("Wait",))
    pipeline = Pipeline("stopped", steps=[wait, *after], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    sm = node.client("sagemaker")

    def waiting_job() -> str | None:
        steps = _by_name(execution.list_steps())
        arn = steps.get("Wait", {}).get("Metadata", {}).get("ProcessingJob", {}).get("Arn")
        job = arn and sm.describe_processing_job(ProcessingJobName=arn.rsplit("/", 1)[-1])
        return job["ProcessingJobName"] if job and job["ProcessingJobStatus"] == "InProgress" else None

    job = wait_for(waiting_job, 60, what="the Wait step's job to run")
    execution.stop()
    assert wait_for(lambda: (d := execution.describe())["PipelineExecutionStatus"] == "Stopped" and d, 60,
                    what="the execution to stop")
    assert sm.describe_processing_job(ProcessingJobName=job)["ProcessingJobStatus"] == "Stopped"
    steps = _by_name(execution.list_steps())
    assert steps["Wait"]["StepStatus"] == "Stopped" and "After" not in steps


DEFINITION = {"Version": "2020-12-01", "Parameters": [{"Name": "N", "Type": "Integer", "DefaultValue": 1}],
              "Steps": [{"Name": "Check", "Type": "Condition", "Arguments": {
                  "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Parameters.N"}, "RightValue": 1}],
                  "IfSteps": [],
                  "ElseSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}]}}]}


def _create(sm: Any, name: str, definition: dict[str, Any]) -> dict[str, Any]:
    return sm.create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(definition), RoleArn=ROLE)


def _refused(call: Any, code: str = "ValidationException") -> str:
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == code, err.value.response
    return str(err.value.response["Error"]["Message"])


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s[0].update(DependsOn=["Stop"]),
     "The pipeline's steps form a cycle: Check waits for Stop waits for Check"),
    (lambda s: s[0].update(DependsOn=["Elsewhere"]), "Step Check: DependsOn names Elsewhere, which is not a step"),
    (lambda s: s[0]["Arguments"]["ElseSteps"][0]["Arguments"].update(ErrorMessage={"Get": "Parameters.Missing"}),
     "Step Stop: {'Get': 'Parameters.Missing'} names no parameter of the pipeline"),
    (lambda s: s.append({"Name": "Train", "Type": "Training", "Arguments": {
        "RoleArn": {"Get": "Steps.Check.Outcome.Value"}}}), "Step Train: {'Get': 'Steps.Check.Outcome.Value'}"),
    (lambda s: s.append({"Name": "Spark", "Type": "EMR", "Arguments": {}}),
     "Step Spark: step type EMR is not supported by Headwater"),
])
def test_a_bad_definition_is_refused_at_create_naming_the_step(node: NodeThread, change: Any, message: str) -> None:
    definition = json.loads(json.dumps(DEFINITION))
    change(definition["Steps"])
    sm = node.client("sagemaker")
    assert message in _refused(lambda: _create(sm, f"bad-{uuid.uuid4().hex[:8]}", definition))


def test_names_tokens_parameters_and_unknown_resources_answer_as_sagemaker(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    token = uuid.uuid4().hex
    arn = sm.create_pipeline(PipelineName="plain", PipelineDefinition=json.dumps(DEFINITION), RoleArn=ROLE,
                             ClientRequestToken=token)["PipelineArn"]
    assert sm.create_pipeline(PipelineName="plain", PipelineDefinition=json.dumps(DEFINITION), RoleArn=ROLE,
                              ClientRequestToken=token)["PipelineArn"] == arn  # the same request, repeated
    assert "already exists" in _refused(lambda: _create(sm, "plain", DEFINITION))
    assert "Parameter N of type Integer cannot take the value 'one'" in _refused(
        lambda: sm.start_pipeline_execution(PipelineName="plain", PipelineParameters=[{"Name": "N", "Value": "one"}]))
    started = sm.start_pipeline_execution(PipelineName="plain", ClientRequestToken=token)["PipelineExecutionArn"]
    assert sm.start_pipeline_execution(PipelineName="plain", ClientRequestToken=token)[
        "PipelineExecutionArn"] == started
    done = wait_for(lambda: (d := sm.describe_pipeline_execution(PipelineExecutionArn=started))[
        "PipelineExecutionStatus"] != "Executing" and d, 30, what="the execution to end")
    assert done["PipelineExecutionStatus"] == "Succeeded"
    assert json.loads(sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=started)[
        "PipelineDefinition"]) == DEFINITION
    _refused(lambda: sm.describe_pipeline(PipelineName="nowhere"), "ResourceNotFound")
    _refused(lambda: sm.describe_pipeline_execution(PipelineExecutionArn=f"{arn}/execution/abcdefabcdef"),
             "ResourceNotFound")
    _refused(lambda: sm.start_pipeline_execution(PipelineName="nowhere"), "ResourceNotFound")
    assert sm.delete_pipeline(PipelineName="plain")["PipelineArn"] == arn
    _refused(lambda: sm.describe_pipeline(PipelineName="plain"), "ResourceNotFound")
