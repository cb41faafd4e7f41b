"""Tuning jobs that stop children: early stopping (the median rule) and StopHyperParameterTuningJob.

The children train on enough rows that a slow trial takes many seconds,
so the orchestrator (which reads intermediate values from the children's
CloudWatch log streams) has time to judge it while it runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.tuning_support import DATA_BUCKET, children, definition, regression_csv, tuning_config, \
    wait_for_tuning
from tests.support import wait_for

PREFIX = "tuning/large"


@pytest.fixture(scope="module")
def data(node: Any) -> str:
    s3 = node.client("s3")
    s3.put_object(Bucket=DATA_BUCKET, Key=f"{PREFIX}/train/part.csv", Body=regression_csv(20000, 1, cols=10))
    s3.put_object(Bucket=DATA_BUCKET, Key=f"{PREFIX}/validation/part.csv", Body=regression_csv(2000, 2, cols=10))
    return PREFIX


def test_early_stopping_stops_a_trial_worse_than_the_median_of_earlier_ones(node: Any, data: str) -> None:
    sm, name = node.client("sagemaker"), "it-early-stop"
    # Grid order is the order given; one trial at a time, so the weak one runs after three good ones.
    config = tuning_config("Grid", 0, 1, {"CategoricalParameterRanges": [
        {"Name": "eta", "Values": ["0.3", "0.4", "0.5", "0.001"]}]}, TrainingJobEarlyStoppingType="Auto")
    static = {"num_round": "3000", "objective": "reg:squarederror", "early_stopping_rounds": "5"}
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config,
                                         TrainingJobDefinition=definition(data, static))
    final = wait_for_tuning(sm, name, timeout=300)
    assert final["HyperParameterTuningJobStatus"] == "Completed", final.get("FailureReason")
    assert final["TrainingJobStatusCounters"] == {"Completed": 3, "InProgress": 0, "RetryableError": 0,
                                                  "NonRetryableError": 0, "Stopped": 1}
    [stopped] = children(sm, name, StatusEquals="Stopped")
    assert stopped["TunedHyperParameters"] == {"eta": "0.001"}
    # stopped early, not failed: it has an objective, from the rounds it ran
    assert stopped["ObjectiveStatus"] == "Succeeded"
    rounds = [line for line in (node.settings.jobs_dir / stopped["TrainingJobName"] / "algo-1.log").read_text()
              .splitlines() if "validation-rmse" in line]
    assert len(rounds) < 3000
    assert final["BestTrainingJob"]["TunedHyperParameters"]["eta"] != "0.001"


def test_stop_tuning_job_stops_its_running_children(node: Any, data: str) -> None:
    sm, name = node.client("sagemaker"), "it-stop"
    config = tuning_config("Random", 6, 2, {"ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.3"}]})
    static = {"num_round": "100000", "objective": "reg:squarederror"}
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config,
                                         TrainingJobDefinition=definition(data, static))

    def training() -> list[dict[str, Any]]:
        kids = [sm.describe_training_job(TrainingJobName=c["TrainingJobName"]) for c in children(sm, name)]
        return kids if len(kids) == 2 and all(k["SecondaryStatus"] == "Training" for k in kids) else []

    wait_for(training, 90, interval=0.5, what="two children training")
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
        "HyperParameterTuningJobStatus"] in ("Stopping", "Stopped")
    final = wait_for_tuning(sm, name, timeout=120)
    assert final["HyperParameterTuningJobStatus"] == "Stopped"
    kids = children(sm, name)
    assert len(kids) == 2 and {k["TrainingJobStatus"] for k in kids} == {"Stopped"}
    assert final["TrainingJobStatusCounters"]["Stopped"] == 2
    with pytest.raises(sm.exceptions.ClientError) as info:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_hyperband_stops_a_trial_that_falls_behind_its_bracket(node: Any, data: str) -> None:
    sm, name = node.client("sagemaker"), "it-hyperband"
    # 4 brackets between 10 and 600 rounds; trials 1 and 5 share bracket 0. RandomSeed 317 draws
    # eta 0.33 for trial 1 and 0.0025 for trial 5, which is far behind at the first rung (10 rounds).
    config = tuning_config("Hyperband", 5, 2, {"ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.001", "MaxValue": "0.5", "ScalingType": "Logarithmic"}]},
        RandomSeed=317, StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 10, "MaxResource": 600}})
    static = {"num_round": "50", "objective": "reg:squarederror", "early_stopping_rounds": "10"}
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config,
                                         TrainingJobDefinition=definition(data, static))
    final = wait_for_tuning(sm, name, timeout=300)
    assert final["HyperParameterTuningJobStatus"] == "Completed", final.get("FailureReason")
    kids = {k["TrainingJobName"]: k for k in children(sm, name)}
    assert len(kids) == 5
    for job in kids:  # Hyperband runs its trials up to MaxResource
        assert sm.describe_training_job(TrainingJobName=job)["HyperParameters"]["num_round"] == "600"
    [stopped] = [k for k in kids.values() if k["TrainingJobStatus"] == "Stopped"]
    assert stopped["TrainingJobName"].startswith(f"{name}-005-")
    assert float(stopped["TunedHyperParameters"]["eta"]) < 0.003
    assert final["TrainingJobStatusCounters"]["Completed"] == 4
