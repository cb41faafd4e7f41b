"""Lambda's metrics counted in memory and taken as ``MetricDatum`` batches."""

from __future__ import annotations

from datetime import datetime, timezone

from services.functions.metrics import FunctionMetrics


def test_counts_are_one_point_each_durations_one_point_an_invocation_and_taking_restarts() -> None:
    m = FunctionMetrics(None)
    m.invoked("f", 1)
    m.invoked("f", 2)
    m.finished("f", 3.0, False)
    m.finished("f", 5.0, True)
    m.throttled("f")
    m.throttled("g")
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    got = {(d["Dimensions"][0]["Value"], d["MetricName"], d["Value"]) for d in m.take(now)}  # type: ignore[index]
    assert got == {("f", "Invocations", 2.0), ("f", "Errors", 1.0), ("f", "Throttles", 1.0), ("g", "Throttles", 1.0),
                   ("f", "Duration", 3.0), ("f", "Duration", 5.0), ("f", "ConcurrentExecutions", 2.0)}
    assert m.take(now) == []


def test_invocations_without_errors_report_errors_as_zero() -> None:
    m = FunctionMetrics(None)
    m.invoked("f", 1)
    m.finished("f", 1.0, False)
    errors = [d["Value"] for d in m.take(datetime.now(timezone.utc)) if d["MetricName"] == "Errors"]
    assert errors == [0.0]
