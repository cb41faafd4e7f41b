"""Experiments over in-memory stores: metric summaries, and a training job's trial component as its job changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.core.store import DocumentStore, MemoryBackend
from services.experiments.jobs import record_training_job
from services.experiments.models import Experiment, MetricStats, Trial, TrialComponent
from services.experiments.service import ExperimentsService


@pytest.fixture
def experiments() -> ExperimentsService:
    backend = MemoryBackend()
    return ExperimentsService(DocumentStore(backend, "e", Experiment, "Experiment"),
                              DocumentStore(backend, "t", Trial, "Trial"),
                              DocumentStore(backend, "c", TrialComponent, "Trial component"),
                              region="us-east-1", account_id="123456789012")


def at(second: int) -> datetime:
    return datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC)


def test_metric_summary_takes_the_latest_value_by_time_as_last() -> None:
    stats = MetricStats()
    for value, second in ((3.0, 5), (1.0, 9), (2.0, 7)):  # sent out of order
        stats.add(value, at(second))
    summary = stats.summary("loss", "arn")
    assert (summary["Last"], summary["TimeStamp"], summary["Min"], summary["Max"], summary["Count"]) == (
        1.0, at(9), 1.0, 3.0, 3)
    assert summary["Avg"] == 2.0 and summary["StdDev"] == pytest.approx(1.0)


def job(status: str, modified: int, **extra: Any) -> dict[str, Any]:
    return {"TrainingJobName": "j", "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/j",
            "TrainingJobStatus": status, "CreationTime": at(0), "LastModifiedTime": at(modified),
            "HyperParameters": {"eta": "0.3"}, "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            "ExperimentConfig": {"ExperimentName": "e", "TrialName": "t", "RunName": "e-run"}, **extra}


async def test_a_jobs_component_follows_the_job_and_ignores_older_states(experiments: ExperimentsService) -> None:
    await record_training_job(experiments, job("InProgress", 1))
    done = await record_training_job(experiments, job("Completed", 3, FinalMetricDataList=[
        {"MetricName": "rmse", "Value": 0.5, "Timestamp": at(3)}]))
    assert done is not None and done.status == {"PrimaryStatus": "Completed"}
    stale = await record_training_job(experiments, job("InProgress", 2))  # a late event of an older state
    assert stale is not None and stale.status == {"PrimaryStatus": "Completed"}
    described = stale.describe()
    assert described["Parameters"]["eta"] == {"NumberValue": 0.3}
    assert [m["MetricName"] for m in described["Metrics"]] == ["rmse"] and stale.run_name == "e-run"
    # the missing trial (and experiment) were created, and the component joined the trial once
    assert stale.parents == [{"TrialName": "t", "ExperimentName": "e"}]
    assert (await experiments.describe_trial("t")).experiment_name == "e"


async def test_a_job_without_experiment_config_gets_an_unassigned_component(experiments: ExperimentsService) -> None:
    """SageMaker records every training job as a trial component; without ExperimentConfig it joins no trial."""
    plain = {**job("Completed", 3), "TrainingJobName": "plain", "ExperimentConfig": None,
             "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/plain"}
    component = await record_training_job(experiments, plain)
    assert component.trial_component_name == "plain-aws-training-job"
    assert component.source["SourceArn"] == plain["TrainingJobArn"] and component.parents in (None, [])
    assert component.run_name is None
