"""The SageMaker Python SDK's ``HyperparameterTuner``, unchanged, against a Headwater node.

Endpoints come from the standard environment variables only. The tuner
uses the SDK's default strategy (Bayesian) over a built-in XGBoost
``Estimator``; ``fit()`` waits with the SDK's own polling, and
``best_training_job()``, ``attach()`` and ``analytics()`` read what the
control plane reports. A warm start with ``identical_dataset_and_algorithm_tuner()``
over record sets uploaded again (a new prefix, the same data) runs, and
``stop_tuning_job()`` ends a job Stopping, then Stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sagemaker  # noqa: E402 - a dev dependency: its absence must fail, not skip
from sagemaker.estimator import Estimator  # noqa: E402
from sagemaker.inputs import TrainingInput  # noqa: E402
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter  # noqa: E402

from tests.integration.tuning_support import DATA_BUCKET, regression_csv
from tests.sdk_env import REGION, ROLE, sdk_environment, sdk_session
from tests.support import observe_events, wait_for

pytestmark = pytest.mark.sdk
ARTIFACTS_BUCKET = "headwater-artifacts"
TUNING_DETAIL_TYPE = "SageMaker HyperParameter Tuning Job State Change"


@pytest.fixture(scope="module")
def sdk_env(node: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[pytest.MonkeyPatch]:
    with sdk_environment(node, tmp_path_factory.mktemp("sdk-home")) as mp:
        from sagemaker.telemetry import telemetry_logging

        sent: list[str] = []
        mp.setattr(telemetry_logging, "_requests_helper", lambda url, timeout: sent.append(url))
        yield mp
        assert sent == []  # no telemetry left the machine


def test_hyperparameter_tuner_fit_and_best_training_job(node: Any, sdk_env: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    s3 = boto3.client("s3")  # from the environment alone
    s3.put_object(Bucket=DATA_BUCKET, Key="sdk-tuning/train/part.csv", Body=regression_csv(300, 1))
    s3.put_object(Bucket=DATA_BUCKET, Key="sdk-tuning/validation/part.csv", Body=regression_csv(150, 2))
    sess = sdk_session(ARTIFACTS_BUCKET)
    estimator = Estimator(image_uri=sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1"), role=ROLE,
                          instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{ARTIFACTS_BUCKET}/sdk-tuning", sagemaker_session=sess,
                          hyperparameters={"num_round": 8, "objective": "reg:squarederror"})
    tuner = HyperparameterTuner(estimator, objective_metric_name="validation:rmse", objective_type="Minimize",
                                hyperparameter_ranges={"eta": ContinuousParameter(0.05, 0.5),
                                                       "max_depth": IntegerParameter(1, 6)},
                                max_jobs=4, max_parallel_jobs=2, base_tuning_job_name="sdk-tuner")

    tuner.fit({"train": TrainingInput(f"s3://{DATA_BUCKET}/sdk-tuning/train/", content_type="text/csv"),
               "validation": TrainingInput(f"s3://{DATA_BUCKET}/sdk-tuning/validation/", content_type="text/csv")},
              wait=True)

    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    assert described["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    assert described["TrainingJobStatusCounters"]["Completed"] == 4
    best = tuner.best_training_job()
    sm = boto3.client("sagemaker")
    summaries = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuner.latest_tuning_job.name, SortBy="FinalObjectiveMetricValue",
        SortOrder="Ascending")["TrainingJobSummaries"]
    assert best == summaries[0]["TrainingJobName"]
    assert sm.describe_training_job(TrainingJobName=best)["TrainingJobStatus"] == "Completed"

    # the SDK rebuilds the tuner and the best estimator from Describe* responses
    attached = HyperparameterTuner.attach(tuner.latest_tuning_job.name, sagemaker_session=sess)
    assert attached.objective_metric_name == "validation:rmse" and attached.max_jobs == 4
    best_estimator = attached.best_estimator()
    assert best_estimator.model_data.endswith(f"/{best}/output/model.tar.gz")
    frame = tuner.analytics().dataframe()
    assert len(frame) == 4 and frame["FinalObjectiveValue"].min() == pytest.approx(
        summaries[0]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])


def _linear_learner(sess: Any) -> Any:
    from sagemaker import LinearLearner

    return LinearLearner(role=ROLE, instance_count=1, instance_type="ml.m5.large", predictor_type="regressor",
                         epochs=2, output_path=f"s3://{ARTIFACTS_BUCKET}/sdk-ll-tuning",
                         data_location=f"s3://{ARTIFACTS_BUCKET}/sdk-ll-data", sagemaker_session=sess)


def _records(estimator: Any, rows: int, seed: int, channel: str) -> Any:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=rows)).astype("float32")
    return estimator.record_set(x, y, channel=channel)


def test_identical_dataset_and_algorithm_tuner_over_a_record_set_uploaded_again(
        node: Any, sdk_env: pytest.MonkeyPatch) -> None:
    from sagemaker.tuner import WarmStartTypes, create_identical_dataset_and_algorithm_tuner

    sess = sdk_session(ARTIFACTS_BUCKET)
    estimator = _linear_learner(sess)
    tuner = HyperparameterTuner(estimator, objective_metric_name="validation:objective_loss",
                                objective_type="Minimize",
                                hyperparameter_ranges={"learning_rate": ContinuousParameter(0.01, 0.2)},
                                max_jobs=2, max_parallel_jobs=2, base_tuning_job_name="sdk-ll-parent")
    tuner.fit([_records(estimator, 200, 1, "train"), _records(estimator, 100, 2, "validation")], wait=True)
    parent = tuner.latest_tuning_job.name
    assert tuner.describe()["HyperParameterTuningJobStatus"] == "Completed"

    # The user warm-starts from it with the same data: record_set() uploads it again, under a new prefix.
    child = tuner.identical_dataset_and_algorithm_tuner()
    # (named: the SDK names a tuning job after its image and the minute, the same for tuners a minute apart)
    child.fit([_records(estimator, 200, 1, "train"), _records(estimator, 100, 2, "validation")],
              job_name="sdk-ll-child", wait=True)
    described = child.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    assert described["WarmStartConfig"] == {"ParentHyperParameterTuningJobs": [
        {"HyperParameterTuningJobName": parent}], "WarmStartType": "IdenticalDataAndAlgorithm"}
    best = [sm_best(parent), sm_best(child.latest_tuning_job.name)]
    assert described["OverallBestTrainingJob"]["TrainingJobName"] == min(best, key=lambda b: b[1])[0]

    # The module function attaches to a finished tuner by name and warm-starts from it and more parents.
    third = create_identical_dataset_and_algorithm_tuner(child.latest_tuning_job.name, additional_parents={parent},
                                                         sagemaker_session=sess)
    assert third.warm_start_config.type is WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM
    again = third.estimator
    third.fit([_records(again, 200, 1, "train"), _records(again, 100, 2, "validation")], job_name="sdk-ll-third",
              wait=True)
    described = third.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    assert {p["HyperParameterTuningJobName"] for p in described["WarmStartConfig"][
        "ParentHyperParameterTuningJobs"]} == {parent, child.latest_tuning_job.name}


def sm_best(tuning_job: str) -> tuple[str, float]:
    """A tuning job's best training job and its objective value."""
    best = boto3.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning_job)["BestTrainingJob"]
    return best["TrainingJobName"], best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]


def test_stop_tuning_job_moves_to_stopping_then_stopped(node: Any, sdk_env: pytest.MonkeyPatch) -> None:
    queue = observe_events(node, "sdk-tuning-stop-events", TUNING_DETAIL_TYPE)
    s3 = boto3.client("s3")
    s3.put_object(Bucket=DATA_BUCKET, Key="sdk-stop/train/part.csv", Body=regression_csv(300, 1))
    s3.put_object(Bucket=DATA_BUCKET, Key="sdk-stop/validation/part.csv", Body=regression_csv(150, 2))
    sess = sdk_session(ARTIFACTS_BUCKET)
    # Children that would train for a long time: only a stop ends them.
    estimator = Estimator(image_uri=sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1"), role=ROLE,
                          instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{ARTIFACTS_BUCKET}/sdk-stop", sagemaker_session=sess,
                          hyperparameters={"num_round": 100000, "objective": "reg:squarederror"})
    tuner = HyperparameterTuner(estimator, objective_metric_name="validation:rmse", objective_type="Minimize",
                                hyperparameter_ranges={"eta": ContinuousParameter(0.05, 0.5)},
                                max_jobs=4, max_parallel_jobs=2, base_tuning_job_name="sdk-stop")
    tuner.fit({"train": TrainingInput(f"s3://{DATA_BUCKET}/sdk-stop/train/", content_type="text/csv"),
               "validation": TrainingInput(f"s3://{DATA_BUCKET}/sdk-stop/validation/", content_type="text/csv")},
              wait=False)
    name = tuner.latest_tuning_job.name
    sm = boto3.client("sagemaker")

    def training() -> list[str]:
        kids = [c["TrainingJobName"] for c in sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name)["TrainingJobSummaries"]]
        secondary = [sm.describe_training_job(TrainingJobName=k)["SecondaryStatus"] for k in kids]
        return kids if len(kids) == 2 and set(secondary) == {"Training"} else []

    kids = wait_for(training, 90, interval=0.5, what="two children training")

    tuner.stop_tuning_job()
    assert tuner.describe()["HyperParameterTuningJobStatus"] in ("Stopping", "Stopped")
    tuner.wait()  # the SDK's own wait: it accepts Completed and Stopped only

    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Stopped", described.get("FailureReason")
    assert "FailureReason" not in described
    assert described["TrainingJobStatusCounters"]["Stopped"] == 2
    assert {sm.describe_training_job(TrainingJobName=k)["TrainingJobStatus"] for k in kids} == {"Stopped"}
    sqs, seen = boto3.client("sqs"), []

    def statuses() -> list[str] | None:
        while msgs := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
            for m in msgs:
                detail = json.loads(m["Body"])["detail"]
                if detail["HyperParameterTuningJobName"] == name:
                    seen.append(detail["HyperParameterTuningJobStatus"])
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        return seen if "Stopped" in seen else None

    assert wait_for(statuses, 30, what="the Stopped event") == ["InProgress", "Stopping", "Stopped"]
