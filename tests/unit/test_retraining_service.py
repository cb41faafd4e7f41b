"""The retraining chain's guard rails and scoring, without a node."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from services.core.store import DocumentStore, MemoryBackend
from services.retraining.evaluation import EvaluationError, improvement, objective_value, parse_predictions, score
from services.retraining.models import RetrainingPolicy, RetrainingRun, RunStatus
from services.retraining.service import RetrainingService, run_name_for, run_of


class Recorder:
    """A publisher that keeps what it was given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        self.events.append((detail_type, detail))
        return "id"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def world() -> tuple[RetrainingService, Recorder, Clock]:
    clock, events = Clock(), Recorder()
    service = RetrainingService(DocumentStore(MemoryBackend(), "p", RetrainingPolicy, "Retraining policy"),
                                DocumentStore(MemoryBackend(), "r", RetrainingRun, "Retraining run"), events,
                                clock=clock)
    return service, events, clock


def _policy(**extra: Any) -> RetrainingPolicy:
    return RetrainingPolicy(endpoint_name="ep", model_package_group_name="g", holdout_s3_uri="s3://b/h/", **extra)


async def _start(service: RetrainingService, clock: Clock, trigger: str) -> tuple[str, bool]:
    name = run_name_for("ep", trigger)
    claim = await service.claim("ep", name)
    if claim.started:
        await service.start_run(RetrainingRun(run_name=name, endpoint_name="ep", model_package_group_name="g",
                                              creation_time=clock(), last_modified_time=clock()))
    return name, claim.started


async def test_a_run_in_flight_suppresses_others_and_its_end_starts_the_cooldown(world: Any) -> None:
    service, events, clock = world
    await service.put_policy(_policy(cooldown_seconds=600))
    first, started = await _start(service, clock, "s/1")
    assert started
    assert (await service.claim("ep", first)).reason == "already claimed by this trigger"  # a duplicate delivery
    second, started = await _start(service, clock, "s/2")
    assert not started and "in flight" in (await service.claim("ep", second)).reason
    await service.advance(first, lambda r: r.model_copy(update={"status": RunStatus.EVALUATING}))
    await service.advance(first, lambda r: r.model_copy(update={"status": RunStatus.COMPLETED}))
    policy = await service.get_policy("ep")
    assert policy.active_run is None and policy.last_run_end == clock.now
    clock.now += timedelta(seconds=599)
    _, started = await _start(service, clock, "s/3")
    assert not started
    clock.now += timedelta(seconds=2)
    _, started = await _start(service, clock, "s/4")
    assert started
    # the same trigger never runs twice, even after the lock is gone
    await service.fail(run_name_for("ep", "s/4"), "boom")
    clock.now += timedelta(hours=1)
    assert not (await service.claim("ep", run_name_for("ep", "s/4"))).started
    statuses = [d["Status"] for t, d in events.events]
    assert statuses == ["Training", "Evaluating", "Completed", "Training", "Failed"]


async def test_pending_approval_releases_the_lock_and_put_policy_keeps_chain_state(world: Any) -> None:
    service, _, clock = world
    await service.put_policy(_policy(cooldown_seconds=0))
    name, _ = await _start(service, clock, "s/1")
    await service.set_serving("ep", "arn:pkg/1")
    await service.advance(name, lambda r: r.model_copy(update={"status": RunStatus.PENDING_APPROVAL}))
    assert (await service.get_policy("ep")).active_run is None
    await service.put_policy(_policy(min_improvement=0.5))
    policy = await service.get_policy("ep")
    assert policy.min_improvement == 0.5 and policy.serving_package_arn == "arn:pkg/1"
    await service.hold("ep", name)
    assert (await service.get_policy("ep")).active_run == name


async def test_a_run_stuck_past_its_step_deadline_fails_and_frees_the_endpoint(world: Any) -> None:
    # The chain advances on events: had one been lost, the run would hold the endpoint's lock for ever.
    service, events, clock = world
    await service.put_policy(_policy(cooldown_seconds=0, step_timeout_seconds=3600))
    stuck, started = await _start(service, clock, "t1")
    assert started
    clock.now += timedelta(minutes=59)
    assert (await _start(service, clock, "t2"))[1] is False  # within its deadline the run keeps the lock
    assert await service.expire_overdue_runs() == []
    clock.now += timedelta(minutes=2)
    assert await service.expire_overdue_runs() == [stuck]
    run = await service.get_run(stuck)
    assert run.status is RunStatus.FAILED and "Training step passed its deadline" in run.failure_reason
    assert events.events[-1][1]["Status"] == "Failed"
    assert (await _start(service, clock, "t3"))[1] is True


async def test_a_new_trigger_takes_the_endpoint_from_a_run_past_its_deadline(world: Any) -> None:
    service, _, clock = world
    await service.put_policy(_policy(cooldown_seconds=0, step_timeout_seconds=600))
    stuck, _ = await _start(service, clock, "t1")
    clock.now += timedelta(minutes=11)
    assert (await _start(service, clock, "t2"))[1] is True  # no sweep needed: the claim looks at the deadline
    assert (await service.get_run(stuck)).status is RunStatus.FAILED


async def test_each_step_has_its_own_deadline(world: Any) -> None:
    service, _, clock = world
    await service.put_policy(_policy(cooldown_seconds=0, step_timeout_seconds=600))
    name, _ = await _start(service, clock, "t1")
    clock.now += timedelta(minutes=9)
    await service.advance(name, lambda r: r.model_copy(update={"status": RunStatus.EVALUATING}))
    clock.now += timedelta(minutes=9)  # 18 minutes into the run, 9 into its Evaluating step
    assert await service.expire_overdue_runs() == []


def test_resource_names_lead_back_to_their_run() -> None:
    name = run_name_for("churn endpoint/1", "sched/2026-01-01")
    assert name == run_name_for("churn endpoint/1", "sched/2026-01-01") != run_name_for("churn endpoint/1", "x")
    assert name.startswith("retrain-churn-endpoint-1-") and len(name) <= 63
    assert run_of(f"{name}-candidate") == name and run_of(f"{name}-baseline") == name and run_of(name) == name
    assert run_of("model-monitoring-2026") is None


def test_binary_scores_and_objective_directions() -> None:
    labels = ["1", "0", "1", "0"]
    report = score("BinaryClassification", labels, np.array([0.9, 0.2, 0.4, 0.6]))
    metrics = report["binary_classification_metrics"]
    assert metrics["accuracy"]["value"] == 0.5 and metrics["auc"]["value"] == 0.75
    assert objective_value(report, "accuracy") == 0.5
    regression = score("Regression", ["1", "2"], np.array([1.0, 4.0]))
    assert objective_value(regression, "rmse") == pytest.approx(np.sqrt(2.0))
    assert improvement("accuracy", 0.9, 0.8) == pytest.approx(0.1)
    assert improvement("rmse", 1.0, 1.5) == pytest.approx(0.5)


def test_predictions_that_cannot_be_scored_say_where() -> None:
    assert list(parse_predictions("0.5\n0.25,x\n", 2, "out")) == [0.5, 0.25]
    with pytest.raises(EvaluationError, match="out line 2"):
        parse_predictions("0.5\nnope\n", 2, "out")
    with pytest.raises(EvaluationError, match="1 predictions for 2"):
        parse_predictions("0.5\n", 2, "out")
