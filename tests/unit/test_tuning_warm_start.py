"""What a warm start checks of its parents, as SageMaker's restrictions on warm start tuning jobs state them.

The parent is a finished tuning job in an in-memory store; each case creates a warm-started job whose
request differs from the parent's in one way and expects it accepted or refused with a reason naming what
changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.core.exceptions import ValidationException
from services.core.store import DocumentStore, MemoryBackend
from services.core.tasks import Task
from services.training.models import TrainingJob
from services.training.service import TrainingService
from services.tuning.models import CreateTuningJobRequest, TuningJob, TuningJobStatus
from services.tuning.service import TuningService

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


class _Sink:
    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        return "id"

    async def enqueue(self, task: Task) -> None:
        pass


def _service() -> TuningService:
    backend, sink = MemoryBackend(), _Sink()
    training = TrainingService(DocumentStore(backend, "training-jobs", TrainingJob, "Training job"), sink, sink,  # type: ignore[arg-type]
                               region="us-east-1", account_id="123456789012")
    return TuningService(DocumentStore(backend, "tuning-jobs", TuningJob, "Hyperparameter tuning job"), training,
                         sink, sink, region="us-east-1", account_id="123456789012")  # type: ignore[arg-type]


def _body(name: str, prefix: str = "s3://data/records-1") -> dict[str, Any]:
    def channel(channel_name: str) -> dict[str, Any]:
        return {"ChannelName": channel_name, "DataSource": {"S3DataSource": {
            "S3DataType": "ManifestFile", "S3Uri": f"{prefix}/{channel_name}/.amazon.manifest"}}}

    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian", "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
            "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5"}],
                                "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}]}},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"num_round": "5", "objective": "reg:squarederror", "max_depth": "3"},
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "InputDataConfig": [channel("train"), channel("validation")],
            "OutputDataConfig": {"S3OutputPath": "s3://out/tuning"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}},
        "WarmStartConfig": {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
                            "WarmStartType": "IdenticalDataAndAlgorithm"},
    }


async def _warm_start(change: Callable[[dict[str, Any]], None], warm_start_type: str = "IdenticalDataAndAlgorithm",
                      parent_change: Callable[[dict[str, Any]], None] | None = None) -> TuningJob:
    """Create the finished parent, then a warm start from it with ``change`` applied to the parent's request."""
    tuning = _service()
    parent = _body("parent")
    del parent["WarmStartConfig"]
    if parent_change:
        parent_change(parent)
    await tuning.create_tuning_job(CreateTuningJobRequest.model_validate(parent))

    def finish(j: TuningJob) -> TuningJob:
        j.hyper_parameter_tuning_job_status = TuningJobStatus.COMPLETED
        return j

    await tuning.store.update("parent", finish)
    child = _body("child", prefix="s3://data/records-2")
    child["WarmStartConfig"]["WarmStartType"] = warm_start_type
    change(child)
    return await tuning.create_tuning_job(CreateTuningJobRequest.model_validate(child))


def _definition(body: dict[str, Any]) -> dict[str, Any]:
    return body["TrainingJobDefinition"]


def _ranges(body: dict[str, Any]) -> dict[str, Any]:
    return body["HyperParameterTuningJobConfig"]["ParameterRanges"]


async def test_identical_data_uploaded_again_under_another_prefix_is_accepted() -> None:
    # The SDK's record_set() uploads the same records under a new prefix for every fit.
    job = await _warm_start(lambda body: None)
    assert job.warm_start_config is not None and job.warm_start_config.warm_start_type == "IdenticalDataAndAlgorithm"


async def test_a_flag_left_out_is_the_flag_set_false() -> None:
    # A parent created with boto3 omits EnableNetworkIsolation; the SDK sends it false.
    job = await _warm_start(lambda body: _definition(body).update(EnableNetworkIsolation=False))
    assert job.warm_start_config is not None


async def test_ranges_may_change_and_hyperparameters_move_between_static_and_tunable() -> None:
    def change(body: dict[str, Any]) -> None:
        _ranges(body)["ContinuousParameterRanges"][0]["MaxValue"] = "0.9"
        _ranges(body)["IntegerParameterRanges"] = [{"Name": "max_depth", "MinValue": "2", "MaxValue": "8"}]
        static = _definition(body)["StaticHyperParameters"]
        del static["max_depth"]
        static["booster"] = "gbtree"
        del _ranges(body)["CategoricalParameterRanges"]
        static["num_round"] = "9"

    job = await _warm_start(change)
    assert job.definitions()[0].static_hyper_parameters is not None
    assert job.definitions()[0].static_hyper_parameters["num_round"] == "9"


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: _definition(b)["StaticHyperParameters"].update(gamma="1"),
     "The set of tunable plus static HyperParameter names is not the same"),
    (lambda b: _definition(b)["StaticHyperParameters"].pop("max_depth"),
     "The set of tunable plus static HyperParameter names is not the same"),
    (lambda b: _ranges(b).update(CategoricalParameterRanges=[], IntegerParameterRanges=[
        {"Name": "booster", "MinValue": "1", "MaxValue": "2"}]), "The type of hyperparameter 'booster'"),
    (lambda b: _definition(b).update(Environment={"MODE": "other"}), "Environment differ from parent parent's"),
    (lambda b: _definition(b).update(EnableNetworkIsolation=True), "EnableNetworkIsolation differ"),
])
async def test_what_no_warm_start_may_change(change: Callable[[dict[str, Any]], None], message: str) -> None:
    for kind in ("IdenticalDataAndAlgorithm", "TransferLearning"):
        with pytest.raises(ValidationException, match=message):
            await _warm_start(change, kind)


async def test_more_than_ten_hyperparameter_changes_are_refused() -> None:
    names = [f"h{i}" for i in range(6)]

    def parent(body: dict[str, Any]) -> None:
        _definition(body)["StaticHyperParameters"].update({n: "1" for n in names})

    def five_changes(body: dict[str, Any]) -> None:  # each changed static value counts 2
        parent(body)
        _definition(body)["StaticHyperParameters"].update({n: "2" for n in names[:5]})

    await _warm_start(five_changes, parent_change=parent)
    with pytest.raises(ValidationException, match="at most 10 changes of hyperparameters.*makes 12"):
        await _warm_start(lambda b: (parent(b), _definition(b)["StaticHyperParameters"].update(
            {n: "2" for n in names})), parent_change=parent)


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: _definition(b)["AlgorithmSpecification"].update(TrainingImage=IMAGE.replace("1.7-1", "1.5-1")),
     "needs the algorithm of parent parent"),
    (lambda b: _definition(b).update(InputDataConfig=_definition(b)["InputDataConfig"][:1]),
     "needs the input data of parent parent"),
])
async def test_identical_data_and_algorithm_keeps_the_image_and_the_channels(
        change: Callable[[dict[str, Any]], None], message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        await _warm_start(change)
    job = await _warm_start(change, "TransferLearning")  # which may change them
    assert job.warm_start_config is not None

