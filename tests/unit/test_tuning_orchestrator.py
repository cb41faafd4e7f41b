"""The tuning orchestrator over in-memory stores, with simulated children.

A fake "cluster" plays the workers: it moves each child the orchestrator
creates to an outcome chosen from its hyperparameters (a final objective,
a failure, or running until stopped) and feeds intermediate values the way
the log reader would. What is asserted is the orchestration itself:
limits, retries, failure, completion criteria, stopping, resuming.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from services.core.exceptions import ResourceNotFound
from services.core.store import DocumentStore, MemoryBackend
from services.core.tasks import Task
from services.training.models import MetricData, SecondaryStatus, TrainingJob, TrainingJobStatus
from services.training.service import TrainingService
from services.tuning import views
from services.tuning.executor import TuningJobExecutor
from services.tuning.models import CreateTuningJobRequest, TuningJob, TuningJobStatus
from services.tuning.service import DETAIL_TYPE, TuningService
from services.tuning.strategies import BayesianSearch

METRIC = "validation:rmse"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.tasks: list[Task] = []

    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        self.events.append((detail_type, detail))
        return "id"

    async def enqueue(self, task: Task) -> None:
        self.tasks.append(task)


Outcome = tuple[str, Any]  # ("complete", value) | ("fail", reason) | ("run", curve)


class Cluster:
    """Plays the workers: runs every created child to the outcome ``decide`` picks for it."""

    def __init__(self, training: TrainingService, decide: Callable[[TrainingJob], Outcome]) -> None:
        self.training = training
        self.decide = decide
        self.curves: dict[str, list[float]] = {}
        self.max_running = 0

    async def step(self) -> None:
        jobs = await self.training.store.list()
        running = [j for j in jobs if not j.training_job_status.is_terminal]
        self.max_running = max(self.max_running, len(running))
        for job in running:
            name = job.training_job_name
            kind, arg = self.decide(job)
            if job.headwater.stop_requested:
                await self.training.transition(name, TrainingJobStatus.STOPPED, SecondaryStatus.STOPPED, "stopped",
                                               edit=lambda j, n=name: self._final(j, self.curves.get(n, [])[-1:]))
            elif kind == "complete":
                await self.training.transition(name, TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED, "done",
                                               edit=lambda j, v=arg: self._final(j, [v]))
            elif kind == "fail":
                await self.training.transition(name, TrainingJobStatus.FAILED, SecondaryStatus.FAILED, "failed",
                                               edit=lambda j, r=arg: setattr(j, "failure_reason", r))
            else:  # run: publish the next point of the curve
                curve = self.curves.setdefault(name, [])
                if len(curve) < len(arg):
                    curve.append(arg[len(curve)])
                else:
                    await self.training.transition(name, TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED,
                                                   "done", edit=lambda j, v=curve[-1]: self._final(j, [v]))

    def _final(self, job: TrainingJob, values: list[float]) -> None:
        if values:
            job.final_metric_data_list = [MetricData(metric_name=METRIC, value=values[-1],
                                                     timestamp=self.training.clock())]


class CurveSource:
    """The intermediate values the cluster published, as the log reader would return them."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.read_upto: dict[str, int] = {}

    async def read(self, child: TrainingJob, metric: str) -> tuple[bool, list[tuple[int, float]]]:
        curve = self.cluster.curves.get(child.training_job_name, [])
        start = self.read_upto.get(child.training_job_name, 0)
        self.read_upto[child.training_job_name] = len(curve)
        return False, list(enumerate(curve))[start:]

    def forget(self, child: str) -> None:
        pass


class World:
    def __init__(self, decide: Callable[[TrainingJob], Outcome]) -> None:
        self.rec = Recorder()
        backend = MemoryBackend()
        self.training = TrainingService(DocumentStore(backend, "training-jobs", TrainingJob, "Training job"),
                                        self.rec, self.rec, region="us-east-1", account_id="123456789012")  # type: ignore[arg-type]
        self.tuning = TuningService(DocumentStore(backend, "tuning-jobs", TuningJob, "Hyperparameter tuning job"),
                                    self.training, self.rec, self.rec,  # type: ignore[arg-type]
                                    region="us-east-1", account_id="123456789012")
        self.cluster = Cluster(self.training, decide)
        self.executor = TuningJobExecutor(self.tuning, CurveSource(self.cluster), poll_seconds=0.005,
                                          sweep_seconds=0.005, save_curves_every=0.0)

    async def run(self, name: str, timeout: float = 20) -> TuningJob:
        orchestrator = asyncio.create_task(self.executor.execute(name))
        try:
            async with asyncio.timeout(timeout):
                while not orchestrator.done():
                    await self.cluster.step()
                    await asyncio.sleep(0.005)
            await orchestrator
        finally:
            orchestrator.cancel()
        return await self.tuning.describe_tuning_job(name)


def request(name: str = "tune", strategy: str = "Random", max_jobs: int = 4, parallel: int = 2,
            **config: Any) -> CreateTuningJobRequest:
    ranges = config.pop("ranges", {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]})
    return CreateTuningJobRequest.model_validate({
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy, "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs,
                                                     "MaxParallelTrainingJobs": parallel},
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": METRIC},
            "ParameterRanges": ranges, "RandomSeed": 3, **config},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"num_round": "5"},
            "AlgorithmSpecification": {"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://b/train/"}}}],
            "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}}})


def x_of(job: TrainingJob) -> float:
    return float((job.hyper_parameters or {})["x"])


async def test_a_tuning_job_runs_its_trials_within_the_parallel_limit_and_reports_the_best() -> None:
    w = World(lambda j: ("complete", (x_of(j) - 0.3) ** 2))
    await w.tuning.create_tuning_job(request(max_jobs=6, parallel=2))
    assert w.rec.tasks == [Task(kind="tuning", name="tune")]
    job = await w.run("tune")
    d = views.describe(job)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"]["Completed"] == 6
    assert w.cluster.max_running <= 2
    children = await w.training.store.list()
    assert len(children) == 6 and all(c.model_extra and c.model_extra["TuningJobArn"] == job.hyper_parameter_tuning_job_arn
                                      for c in children)
    values = {c.training_job_name: (x_of(c) - 0.3) ** 2 for c in children}
    assert d["BestTrainingJob"]["TrainingJobName"] == min(values, key=values.get)  # type: ignore[arg-type]
    assert [e[1]["HyperParameterTuningJobStatus"] for e in w.rec.events if e[0] == DETAIL_TYPE] == [
        "InProgress", "Completed"]


async def test_platform_failures_are_retried_and_counted_retryable() -> None:
    failed_once: set[str] = set()

    def decide(j: TrainingJob) -> Outcome:
        x = (j.hyper_parameters or {})["x"]
        if x not in failed_once:
            failed_once.add(x)
            return ("fail", "InternalServerError: the job's worker was lost 2 times")
        return ("complete", x_of(j))

    w = World(decide)
    await w.tuning.create_tuning_job(request(max_jobs=2, parallel=2))
    d = views.describe(await w.run("tune"))
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"] == {"Completed": 2, "InProgress": 0, "RetryableError": 2,
                                              "NonRetryableError": 0, "Stopped": 0}
    job = await w.tuning.describe_tuning_job("tune")
    retries = [t for t in job.headwater.trials if t.retry_of]
    originals = {t.index: t for t in job.headwater.trials}
    assert len(retries) == 2 and all(r.hyper_parameters == originals[r.retry_of].hyper_parameters for r in retries)


async def test_user_errors_are_not_retried_and_the_job_carries_on() -> None:
    w = World(lambda j: ("fail", "Hyperparameter 'x' is bad") if x_of(j) > 0.5 else ("complete", x_of(j)))
    await w.tuning.create_tuning_job(request(max_jobs=6, parallel=1))
    d = views.describe(await w.run("tune"))
    failed = d["TrainingJobStatusCounters"]["NonRetryableError"]
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert failed >= 1 and d["TrainingJobStatusCounters"]["Completed"] == 6 - failed
    assert d["ObjectiveStatusCounters"]["Failed"] == failed


async def test_the_job_fails_with_the_reason_when_no_child_can_succeed() -> None:
    w = World(lambda j: ("fail", "Algorithm error: ValueError: always"))
    await w.tuning.create_tuning_job(request(max_jobs=3, parallel=1))
    job = await w.run("tune")
    assert job.status is TuningJobStatus.FAILED
    assert "None of the 3 training jobs succeeded" in (job.failure_reason or "")
    assert "always" in (job.failure_reason or "")


async def test_a_configuration_error_fails_the_job_without_running_every_trial() -> None:
    w = World(lambda j: ("fail", "ClientError: No S3 objects found under S3 URL"))
    await w.tuning.create_tuning_job(request(max_jobs=20, parallel=1))
    job = await w.run("tune")
    assert job.status is TuningJobStatus.FAILED and "configuration error" in (job.failure_reason or "")
    assert len(await w.training.store.list()) < 20


async def test_target_objective_completes_the_job_early() -> None:
    w = World(lambda j: ("complete", x_of(j)))
    await w.tuning.create_tuning_job(request(max_jobs=30, parallel=1, TuningJobCompletionCriteria={
        "TargetObjectiveMetricValue": 0.3}))
    d = views.describe(await w.run("tune"))
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] <= 0.3
    assert sum(d["TrainingJobStatusCounters"].values()) < 30


async def test_best_objective_not_improving_completes_the_job() -> None:
    w = World(lambda j: ("complete", 1.0))  # never better than the first
    await w.tuning.create_tuning_job(request(max_jobs=30, parallel=1, TuningJobCompletionCriteria={
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}))
    d = views.describe(await w.run("tune"))
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"]["Completed"] == 4
    assert d["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 3


async def test_early_stopping_stops_a_trial_worse_than_the_median_and_counts_it_stopped() -> None:
    good, bad = [1.0, 0.6, 0.4, 0.3, 0.25, 0.2], [1.0, 0.99, 0.98, 0.97, 0.96, 0.95]
    w = World(lambda j: ("run", bad if (j.hyper_parameters or {})["c"] == "bad" else good))
    ranges = {"CategoricalParameterRanges": [{"Name": "c", "Values": ["g1", "g2", "g3", "bad"]}]}
    await w.tuning.create_tuning_job(request(strategy="Grid", max_jobs=0, parallel=1, ranges=ranges,
                                             TrainingJobEarlyStoppingType="Auto"))
    job = await w.run("tune")
    d = views.describe(job)
    assert d["TrainingJobStatusCounters"] == {"Completed": 3, "InProgress": 0, "RetryableError": 0,
                                              "NonRetryableError": 0, "Stopped": 1}
    [stopped] = [t for t in job.headwater.trials if t.status.value == "Stopped"]
    assert stopped.hyper_parameters == {"c": "bad"} and stopped.stopped_by == "EarlyStopping"
    assert len(stopped.curve) < len(bad)


async def test_hyperband_stops_trials_that_fall_behind_at_a_rung() -> None:
    def decide(j: TrainingJob) -> Outcome:
        x = x_of(j)
        return ("run", [x + 1.0 / (s + 1) for s in range(9)])  # lower x is better at every step

    w = World(decide)
    req = request(strategy="Hyperband", max_jobs=9, parallel=1, StrategyConfig={
        "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}})
    await w.tuning.create_tuning_job(req)
    job = await w.run("tune")
    children = {c.training_job_name: c for c in await w.training.store.list()}
    assert all((c.hyper_parameters or {})["num_round"] == "9" for c in children.values())
    by_bracket: dict[int, list] = {}
    for t in job.headwater.trials:
        by_bracket.setdefault(t.bracket, []).append(t)  # type: ignore[arg-type]
    assert set(by_bracket) == {0, 1, 2}
    assert all(t.status.value == "Completed" for t in by_bracket[2])  # the last bracket has no rung
    for t in job.headwater.trials:
        earlier = [o for o in by_bracket[t.bracket] if o.index < t.index]  # type: ignore[index]
        # sequential trials: a trial is stopped exactly when an earlier one of its bracket was better
        should_stop = t.bracket != 2 and any(float(o.hyper_parameters["x"]) < float(t.hyper_parameters["x"])
                                             for o in earlier)
        assert (t.stopped_by == "Hyperband") == should_stop, (t.index, t.bracket, t.hyper_parameters)


async def test_stop_request_stops_running_children_and_ends_stopped() -> None:
    w = World(lambda j: ("run", [1.0] * 10_000))
    await w.tuning.create_tuning_job(request(max_jobs=5, parallel=2))
    orchestrator = asyncio.create_task(w.run("tune"))
    while len([j for j in await w.training.store.list()
               if j.training_job_status is TrainingJobStatus.IN_PROGRESS]) < 2:
        await asyncio.sleep(0.01)
    await w.tuning.stop_tuning_job("tune")
    job = await orchestrator
    assert job.status is TuningJobStatus.STOPPED
    statuses = [c.training_job_status for c in await w.training.store.list()]
    assert statuses == [TrainingJobStatus.STOPPED] * 2
    assert views.describe(job)["TrainingJobStatusCounters"]["Stopped"] == 2


async def test_a_restarted_orchestrator_resumes_from_the_recorded_trials() -> None:
    w = World(lambda j: ("run", [x_of(j)] * 30))
    await w.tuning.create_tuning_job(request(max_jobs=4, parallel=2))
    first = asyncio.create_task(w.executor.execute("tune"))
    while len(await w.training.store.list()) < 2:
        await w.cluster.step()
        await asyncio.sleep(0.005)
    first.cancel()  # the worker died
    with pytest.raises(asyncio.CancelledError):
        await first
    recorded = [t.name for t in (await w.tuning.describe_tuning_job("tune")).headwater.trials]
    job = await w.run("tune")  # the next worker's orchestrator
    assert job.status is TuningJobStatus.COMPLETED
    names = [c.training_job_name for c in await w.training.store.list()]
    assert len(names) == 4 and set(recorded) <= set(names)
    assert sorted(t.name for t in job.headwater.trials) == sorted(names)


async def test_warm_start_seeds_the_overall_best_from_the_parent() -> None:
    w = World(lambda j: ("complete", x_of(j)))
    await w.tuning.create_tuning_job(request(name="parent", max_jobs=4, parallel=2))
    parent = views.describe(await w.run("parent"))
    body = request(name="child", strategy="Bayesian", max_jobs=2, parallel=1).model_dump(by_alias=True,
                                                                                          exclude_none=True)
    body["WarmStartConfig"] = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
                               "WarmStartType": "IdenticalDataAndAlgorithm"}
    child_req = CreateTuningJobRequest.model_validate(body)
    await w.tuning.create_tuning_job(child_req)
    d = views.describe(await w.run("child"))
    overall = d["OverallBestTrainingJob"]
    best_value = min(parent["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                     d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == best_value
    assert d["TrainingJobStatusCounters"]["Completed"] == 2  # the parent's trials are not the child's


async def test_warm_start_checks_its_parents() -> None:
    w = World(lambda j: ("complete", x_of(j)))
    body = request(name="orphan").model_dump(by_alias=True, exclude_none=True)
    body["WarmStartConfig"] = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "missing"}],
                               "WarmStartType": "TransferLearning"}
    with pytest.raises(ResourceNotFound):
        await w.tuning.create_tuning_job(CreateTuningJobRequest.model_validate(body))


async def test_a_trial_drawn_at_random_for_a_degenerate_bayesian_fit_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def singular(self: BayesianSearch, ordinal: int, history: list) -> None:  # noqa: ANN001
        raise np.linalg.LinAlgError("Matrix is not positive definite")

    monkeypatch.setattr(BayesianSearch, "_suggest", singular)
    w = World(lambda j: ("complete", x_of(j)))
    await w.tuning.create_tuning_job(request(strategy="Bayesian", max_jobs=2, parallel=1))
    job = await w.run("tune")
    assert job.status is TuningJobStatus.COMPLETED
    notes = [t.suggestion_note for t in job.headwater.trials]
    assert len(notes) == 2 and all(n and "drawn at random" in n and "LinAlgError" in n for n in notes)


async def test_a_trial_drawn_at_random_says_so_on_its_training_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback is visible through the API: DescribeTrainingJob of the trial (the job
    ListTrainingJobsForHyperParameterTuningJob names) opens its SecondaryStatusTransitions with the reason."""
    def singular(self: BayesianSearch, ordinal: int, history: list) -> None:  # noqa: ANN001
        raise np.linalg.LinAlgError("Matrix is not positive definite")

    monkeypatch.setattr(BayesianSearch, "_suggest", singular)
    failed_once: set[str] = set()

    def decide(j: TrainingJob) -> Outcome:  # each trial is lost once, so its retry runs the same draw
        x = (j.hyper_parameters or {})["x"]
        if x not in failed_once:
            failed_once.add(x)
            return ("fail", "InternalServerError: the job's worker was lost 2 times")
        return ("complete", x_of(j))

    w = World(decide)
    await w.tuning.create_tuning_job(request(strategy="Bayesian", max_jobs=2, parallel=1))
    job = await w.run("tune")
    assert job.status is TuningJobStatus.COMPLETED
    summaries, _ = await w.tuning.list_training_jobs_for_tuning_job("tune")
    assert len(summaries) == 4  # two trials, two retries
    for s in summaries:
        described = (await w.training.describe_training_job(s["TrainingJobName"])).describe()
        starting = described["SecondaryStatusTransitions"][0]
        assert starting["Status"] == "Starting"
        assert "drawn at random" in starting["StatusMessage"] and "LinAlgError" in starting["StatusMessage"]


async def test_a_trial_the_bayesian_model_suggested_starts_as_any_training_job() -> None:
    w = World(lambda j: ("complete", x_of(j)))
    await w.tuning.create_tuning_job(request(strategy="Bayesian", max_jobs=2, parallel=1))
    await w.run("tune")
    for child in await w.training.store.list():
        assert child.describe()["SecondaryStatusTransitions"][0]["StatusMessage"] == \
            "Preparing the instances for training"
