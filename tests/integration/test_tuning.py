"""Hyperparameter tuning jobs on a real node, driven with boto3.

Tuning jobs run real XGBoost training jobs as children through the node's
worker (two training slots, orchestration on slots of its own); the data
and the number of rounds are tiny so each child takes a couple of seconds.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.tuning_support import (
    XGBOOST_IMAGE,
    children,
    definition,
    tuning_config,
    upload_dataset,
    wait_for_tuning,
)
from tests.support import wait_for

DETAIL_TYPE = "SageMaker HyperParameter Tuning Job State Change"
RANGES = {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "6"}],
          "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5",
                                         "ScalingType": "Logarithmic"}]}


@pytest.fixture(scope="module")
def data(node: Any) -> str:
    upload_dataset(node.client("s3"), "tuning/small")
    return "tuning/small"


@pytest.fixture(scope="module")
def tuning_events(node: Any) -> Any:
    """Every tuning state-change event on the bus, through a rule to a queue of the test's own."""
    events, sqs = node.client("events"), node.client("sqs")
    url = sqs.create_queue(QueueName="it-tuning-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="it-tuning-state-changes", EventBusName="headwater", State="ENABLED",
                    EventPattern=json.dumps({"source": ["headwater.sagemaker"], "detail-type": [DETAIL_TYPE]}))
    events.put_targets(Rule="it-tuning-state-changes", EventBusName="headwater",
                       Targets=[{"Id": "q", "Arn": arn}])
    seen: list[dict[str, Any]] = []

    def received() -> list[dict[str, Any]]:
        while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
            for m in msgs:
                seen.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return seen

    return received


def _create(sm: Any, name: str, config: dict[str, Any], data: str, **kwargs: Any) -> str:
    body: dict[str, Any] = {"HyperParameterTuningJobName": name, "HyperParameterTuningJobConfig": config}
    if "TrainingJobDefinition" not in kwargs:
        body["TrainingJobDefinition"] = definition(data)
    body.update(kwargs)
    return sm.create_hyper_parameter_tuning_job(**body)["HyperParameterTuningJobArn"]


def _error(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_bad_requests_get_aws_errors_and_leave_nothing(node: Any, data: str) -> None:
    sm = node.client("sagemaker")
    grid_numeric = tuning_config("Grid", 0, 1, RANGES)
    code, msg = _error(lambda: _create(sm, "bad-grid", grid_numeric, data))
    assert code == "ValidationException" and "Grid" in msg
    log_at_zero = tuning_config("Random", 2, 1, {"ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0", "MaxValue": "0.5", "ScalingType": "Logarithmic"}]})
    code, msg = _error(lambda: _create(sm, "bad-log", log_at_zero, data))
    assert code == "ValidationException" and "Logarithmic" in msg
    unknown_metric = tuning_config("Random", 2, 1, RANGES, metric="validation:nonsense")
    code, msg = _error(lambda: _create(sm, "bad-metric", unknown_metric, data))
    assert code == "ValidationException" and "validation:nonsense" in msg
    code, _ = _error(lambda: _create(sm, "bad-strategy", {**tuning_config("Random", 2, 1, RANGES),
                                                           "Strategy": "Genetic"}, data))
    assert code == "ValidationException"  # botocore's enum, checked by the server too
    code, _ = _error(lambda: sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="nope"))
    assert code == "ResourceNotFound"
    names = [j["HyperParameterTuningJobName"]
             for j in sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]]
    assert not [n for n in names if n.startswith("bad-")]


def test_random_tuning_job_runs_children_and_reports_the_best(node: Any, data: str, tuning_events: Any) -> None:
    sm, name = node.client("sagemaker"), "it-random"
    config = tuning_config("Random", 4, 2, RANGES, RandomSeed=7)
    arn = _create(sm, name, config, data, Tags=[{"Key": "team", "Value": "ml"}])
    assert arn.endswith(":hyper-parameter-tuning-job/it-random")
    code, _ = _error(lambda: _create(sm, name, config, data))
    assert code == "ResourceInUse"
    running = wait_for(lambda: [c for c in children(sm, name) if c["TrainingJobStatus"] == "InProgress"], 60,
                       what="children running")
    assert 1 <= len(running) <= 2  # never more than MaxParallelTrainingJobs
    final = wait_for_tuning(sm, name)
    assert final["HyperParameterTuningJobStatus"] == "Completed", final.get("FailureReason")
    assert final["TrainingJobStatusCounters"] == {"Completed": 4, "InProgress": 0, "RetryableError": 0,
                                                  "NonRetryableError": 0, "Stopped": 0}
    assert final["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    kids = children(sm, name, SortBy="FinalObjectiveMetricValue", SortOrder="Ascending")
    assert len(kids) == 4
    values = [k["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for k in kids]
    assert values == sorted(values)
    best = final["BestTrainingJob"]
    assert best["TrainingJobName"] == kids[0]["TrainingJobName"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == "validation:rmse"
    for k in kids:
        assert re.fullmatch(rf"{name}-\d{{3}}-[0-9a-f]{{8}}", k["TrainingJobName"])
        hp = k["TunedHyperParameters"]
        assert set(hp) == {"max_depth", "eta"} and 1 <= int(hp["max_depth"]) <= 6 and 0.05 <= float(hp["eta"]) <= 0.5
        child = sm.describe_training_job(TrainingJobName=k["TrainingJobName"])
        # an ordinary training job: the objective comes from its own FinalMetricDataList
        assert child["TuningJobArn"] == arn
        assert child["HyperParameters"]["eta"] == hp["eta"] and child["HyperParameters"]["num_round"] == "8"
        final_rmse = {m["MetricName"]: m["Value"] for m in child["FinalMetricDataList"]}["validation:rmse"]
        assert final_rmse == pytest.approx(k["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    listed = {j["TrainingJobName"] for j in sm.list_training_jobs(NameContains=name, MaxResults=100)[
        "TrainingJobSummaries"]}
    assert listed == {k["TrainingJobName"] for k in kids}
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    [summary] = [s for s in sm.list_hyper_parameter_tuning_jobs(NameContains=name)[
        "HyperParameterTuningJobSummaries"]]
    assert summary["Strategy"] == "Random" and summary["HyperParameterTuningJobStatus"] == "Completed"
    statuses = wait_for(lambda: [e["detail"]["HyperParameterTuningJobStatus"] for e in tuning_events()
                                 if e["detail"]["HyperParameterTuningJobName"] == name and
                                 e["detail"]["HyperParameterTuningJobStatus"] == "Completed"] and
                        [e["detail"]["HyperParameterTuningJobStatus"] for e in tuning_events()
                         if e["detail"]["HyperParameterTuningJobName"] == name], 30, what="events")
    assert statuses[0] == "InProgress" and statuses[-1] == "Completed"


def test_failing_children_are_counted_and_the_job_carries_on_or_fails_with_the_reason(node: Any, data: str) -> None:
    sm = node.client("sagemaker")
    mixed = tuning_config("Grid", 0, 2, {"CategoricalParameterRanges": [
        {"Name": "max_depth", "Values": ["3", "-1"]}]})
    _create(sm, "it-one-fails", mixed, data)
    hopeless = tuning_config("Grid", 0, 2, {"CategoricalParameterRanges": [
        {"Name": "max_depth", "Values": ["-1", "-2"]}]})
    _create(sm, "it-all-fail", hopeless, data)
    one = wait_for_tuning(sm, "it-one-fails")
    assert one["HyperParameterTuningJobStatus"] == "Completed"
    assert one["TrainingJobStatusCounters"]["Completed"] == 1
    assert one["TrainingJobStatusCounters"]["NonRetryableError"] == 1
    assert one["ObjectiveStatusCounters"] == {"Succeeded": 1, "Pending": 0, "Failed": 1}
    assert one["BestTrainingJob"]["TunedHyperParameters"] == {"max_depth": "3"}
    [failed] = children(sm, "it-one-fails", StatusEquals="Failed")
    assert "max_depth" in failed["FailureReason"] and failed["ObjectiveStatus"] == "Failed"
    every = wait_for_tuning(sm, "it-all-fail")
    assert every["HyperParameterTuningJobStatus"] == "Failed"
    assert every["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    assert "None of the 2 training jobs succeeded" in every["FailureReason"]
    assert "max_depth" in every["FailureReason"]
    assert "BestTrainingJob" not in every


def test_warm_start_from_a_finished_tuning_job(node: Any, data: str) -> None:
    sm = node.client("sagemaker")
    parent = wait_for_tuning(sm, "it-random")
    warm = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "it-random"}],
            "WarmStartType": "IdenticalDataAndAlgorithm"}
    other_version = definition(data)
    other_version["AlgorithmSpecification"]["TrainingImage"] = XGBOOST_IMAGE.replace(":1.7-1", ":1.5-1")
    code, msg = _error(lambda: _create(sm, "it-warm-bad", tuning_config("Bayesian", 2, 1, RANGES), data,
                                       TrainingJobDefinition=other_version, WarmStartConfig=warm))
    assert code == "ValidationException" and "TransferLearning" in msg
    _create(sm, "it-warm", tuning_config("Bayesian", 2, 2, RANGES), data, WarmStartConfig=warm)
    final = wait_for_tuning(sm, "it-warm")
    assert final["HyperParameterTuningJobStatus"] == "Completed", final.get("FailureReason")
    assert final["WarmStartConfig"] == warm
    assert final["TrainingJobStatusCounters"]["Completed"] == 2
    overall = final["OverallBestTrainingJob"]
    candidates = [parent["BestTrainingJob"], final["BestTrainingJob"]]
    best = min(candidates, key=lambda j: j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert overall["TrainingJobName"] == best["TrainingJobName"]
    assert overall["TuningJobName"] in ("it-random", "it-warm")
    # the parent's trials seed the model, they are not run again
    parent_hps = [c["TunedHyperParameters"] for c in children(sm, "it-random")]
    assert not [c for c in children(sm, "it-warm") if c["TunedHyperParameters"] in parent_hps]


def test_headwater_tuning_prints_the_leaderboard_and_the_best_job(node: Any, data: str) -> None:
    import subprocess
    import sys

    sm = node.client("sagemaker")
    final = wait_for_tuning(sm, "it-random")
    out = subprocess.run([sys.executable, "-m", "infra.cli", "--state-dir", str(node.settings.state_dir),
                          "tuning", "it-random"], capture_output=True, text=True, timeout=60, check=True).stdout
    lines = out.splitlines()
    assert lines[0].startswith("it-random  Completed  Random  Completed=4")
    header = lines[1].split()
    assert header[:4] == ["RANK", "TRIAL", "STATUS", "VALIDATION:RMSE"]
    rows = [line.split() for line in lines[2:6]]
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    values = [float(r[3]) for r in rows]
    assert values == sorted(values)  # minimized: best first
    best = final["BestTrainingJob"]
    assert rows[0][1] == best["TrainingJobName"].split("-")[-2]
    assert f"Best training job: {best['TrainingJobName']}" in out


def test_trials_advance_on_their_state_change_events_not_on_a_timer(node: Any, data: str) -> None:
    """With the orchestrator's timers an hour long, only the trials' events can start the next trial."""
    sm = node.client("sagemaker")
    executor = node.node.worker.executors["tuning"]
    timers = {k: getattr(executor, k) for k in ("poll_seconds", "sweep_seconds") if hasattr(executor, k)}
    executor.poll_seconds = executor.sweep_seconds = 3600.0
    try:
        _create(sm, "it-events", tuning_config("Random", 3, 1, RANGES, RandomSeed=3), data)
        final = wait_for_tuning(sm, "it-events", timeout=120)
    finally:
        for k, v in timers.items():
            setattr(executor, k, v)
    assert final["HyperParameterTuningJobStatus"] == "Completed", final.get("FailureReason")
    assert final["TrainingJobStatusCounters"]["Completed"] == 3
    assert node.runtime_stats("advance-tuning-on-trial")["failed"] == 0
