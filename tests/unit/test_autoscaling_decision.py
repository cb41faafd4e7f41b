"""The target-tracking decision and the invocation datapoints it reads, without a node."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.autoscaling.decision import Decision, Window, combine, decide, desired_capacity
from services.hosting.invocation_metrics import InvocationMetrics

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
POLICY = {"TargetValue": 100.0, "ScaleOutCooldown": 60, "ScaleInCooldown": 120}
WINDOW = Window(scale_out_periods=3, scale_in_periods=5)


@pytest.mark.parametrize(("current", "metric", "low", "high", "expected"), [
    (1, 250.0, 1, 4, 3),    # ceil(2.5)
    (1, 1000.0, 1, 4, 4),   # clamped to max
    (2, 150.0, 1, 4, 3),
    (3, 100.0, 1, 4, 3),    # exactly at target holds
    (4, 10.0, 1, 4, 1),     # ceil(0.4) = 1
    (4, 0.0, 2, 4, 2),      # clamped to min
    (3, 100.0000000001, 1, 8, 3),  # float noise does not add an instance
])
def test_desired_capacity_is_ceil_of_proportional_capacity_clamped(current: int, metric: float, low: int,
                                                                   high: int, expected: int) -> None:
    assert desired_capacity(current, metric, 100.0, low, high) == expected


def test_scale_out_needs_every_datapoint_of_its_window_above_target() -> None:
    assert decide(POLICY, 1, 1, 4, [300, 300, 90], NOW, WINDOW) is None
    assert decide(POLICY, 1, 1, 4, [300, 300], NOW, WINDOW) is None  # not enough data yet
    d = decide(POLICY, 1, 1, 4, [50, 200, 300, 250], NOW, WINDOW)
    assert d == Decision(desired=3, direction="out", metric=250.0, alarm="AlarmHigh")


def test_scale_out_waits_for_its_cooldown_and_is_not_held_by_scale_in_cooldown() -> None:
    recent_out = Window(3, 5, last_scale_out=NOW - timedelta(seconds=30))
    assert decide(POLICY, 1, 1, 4, [300, 300, 300], NOW, recent_out) is None
    cooled = Window(3, 5, last_scale_out=NOW - timedelta(seconds=60))
    assert decide(POLICY, 1, 1, 4, [300, 300, 300], NOW, cooled).desired == 3  # type: ignore[union-attr]
    recent_in = Window(3, 5, last_scale_in=NOW - timedelta(seconds=1))
    assert decide(POLICY, 1, 1, 4, [300, 300, 300], NOW, recent_in).direction == "out"  # type: ignore[union-attr]


def test_scale_in_is_conservative() -> None:
    low = [10.0] * 5
    # the whole (longer) window must be below 90% of the target
    assert decide(POLICY, 4, 1, 4, [10, 10, 10, 95, 10], NOW, WINDOW) is None
    assert decide(POLICY, 4, 1, 4, [10] * 4, NOW, WINDOW) is None
    # sized from the busiest datapoint of the window, not the mean
    d = decide(POLICY, 4, 1, 4, [10, 10, 60, 10, 10], NOW, WINDOW)
    assert d is not None and (d.desired, d.direction, d.alarm) == (3, "in", "AlarmLow")
    assert decide(POLICY, 4, 1, 4, low, NOW, Window(3, 5, last_scale_in=NOW - timedelta(seconds=119))) is None
    assert decide(POLICY, 4, 1, 4, low, NOW, Window(3, 5, last_scale_in=NOW - timedelta(seconds=120))) is not None
    assert decide({**POLICY, "DisableScaleIn": True}, 4, 1, 4, low, NOW, WINDOW) is None
    assert decide(POLICY, 4, 1, 4, low, NOW, WINDOW, in_suspended=True) is None
    assert decide(POLICY, 1, 1, 4, low, NOW, WINDOW) is None  # already at min


def test_suspended_scale_out_holds_and_default_cooldown_applies() -> None:
    assert decide(POLICY, 1, 1, 4, [300] * 3, NOW, WINDOW, out_suspended=True) is None
    no_cooldowns = {"TargetValue": 100.0}
    assert decide(no_cooldowns, 1, 1, 4, [300] * 3, NOW, Window(3, 5, last_scale_out=NOW - timedelta(seconds=299))) \
        is None  # AWS's default for SageMaker variants: 300 s


def test_several_policies_largest_out_wins_and_in_needs_all() -> None:
    out2, out4 = Decision(2, "out", 1, "AlarmHigh"), Decision(4, "out", 1, "AlarmHigh")
    in1, in2 = Decision(1, "in", 1, "AlarmLow"), Decision(2, "in", 1, "AlarmLow")
    assert combine([out2, None, out4]) == out4
    assert combine([in1, None]) is None
    assert combine([in1, in2]) == in2
    assert combine([in1, out2]) == out2
    assert combine([]) is None


def test_invocation_datapoints_are_complete_periods_per_instance_per_minute() -> None:
    now = [1000.0]
    metrics = InvocationMetrics(period=10.0, keep=6, clock=lambda: now[0])
    for _ in range(30):
        metrics.record("ep", "v", 2)   # period 100: 30 requests on 2 instances
    now[0] = 1015.0
    for _ in range(5):
        metrics.record("ep", "v", 1)   # period 101 (still open)
    points = metrics.datapoints("ep", "v", periods=3, instances=3)
    assert [(p.start, p.invocations, p.instances) for p in points] == [(980.0, 0, 3), (990.0, 0, 3), (1000.0, 30, 2)]
    assert points[-1].per_instance_per_minute(metrics.period) == pytest.approx(30 / 2 * 6)
    # `since` drops periods that started before the fleet settled at its size
    assert [p.start for p in metrics.datapoints("ep", "v", periods=3, instances=3, since=995.0)] == [1000.0]
    now[0] = 1200.0
    metrics.record("ep", "v", 1)
    assert all(i > 100 for i in metrics._counts[("ep", "v")])  # old periods are dropped
    metrics.forget("ep")
    assert metrics.datapoints("ep", "v", periods=2, instances=1)[-1].invocations == 0
