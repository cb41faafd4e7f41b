"""``headwater functions``: invocations, errors and durations read from a function's log lines."""

from __future__ import annotations

from infra.cli.functions import invocation_stats


def report(rid: str, ms: float, status: str = "") -> str:
    line = f"REPORT RequestId: {rid}\tDuration: {ms:.2f} ms\tBilled Duration: {int(ms) + 1} ms\tMemory Size: 128 MB"
    return line + (f"\tStatus: {status}" if status else "")


def test_stats_per_stream() -> None:
    a, b = "2026/01/01/[$LATEST]a", "2026/01/01/[$LATEST]b"
    lines = [
        (a, "START RequestId: 1 Version: $LATEST"), (b, "START RequestId: 2 Version: $LATEST"),
        (b, "[ERROR] ValueError: no\nTraceback (most recent call last):"), (a, "END RequestId: 1"),
        (a, report("1", 2.0)), (b, "END RequestId: 2"), (b, report("2", 9.0)),
        (a, "START RequestId: 3 Version: $LATEST"), (a, "2026-01-01T00:00:00Z 3 Task timed out after 1.00 seconds"),
        (a, report("3", 1000.0)),
        (b, "START RequestId: 4 Version: $LATEST"), (b, report("4", 4.0, "error\tError Type: Runtime.ExitError")),
        (a, "START RequestId: 5 Version: $LATEST"), (a, report("5", 1.0).replace("\t", "#011")),
    ]
    stats = invocation_stats(lines)
    assert (stats.invocations, stats.errors) == (5, 3)
    assert stats.percentile(50) == 4.0 and stats.percentile(99) == 1000.0


def test_no_invocations() -> None:
    stats = invocation_stats([("s", "INIT_START Runtime Version: python:3.11")])
    assert stats.invocations == 0 and stats.percentile(50) is None
