"""AWS schedule expressions: next firing times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.core.exceptions import ValidationException
from services.core.schedule_expressions import parse_schedule

T0 = datetime(2026, 11, 22, 10, 17, 30, tzinfo=timezone.utc)  # a Sunday


def nxt(expr: str, when: datetime = T0) -> datetime:
    return parse_schedule(expr).next_after(when)


def test_rates() -> None:
    assert nxt("rate(5 minutes)") == T0 + timedelta(minutes=5)
    assert parse_schedule("rate(1 hour)").next_after(T0 + timedelta(minutes=61), start=T0) == T0 + timedelta(hours=2)
    assert parse_schedule("rate(2 days)").next_after(T0 - timedelta(days=1), start=T0) == T0


@pytest.mark.parametrize("expr, expected", [
    ("cron(0 * ? * * *)", datetime(2026, 11, 22, 11, 0)),           # SageMaker's hourly monitoring
    ("cron(0 0 ? * * *)", datetime(2026, 11, 23, 0, 0)),            # daily
    ("cron(*/20 * * * ? *)", datetime(2026, 11, 22, 10, 20)),
    ("cron(15 10 * * ? *)", datetime(2026, 11, 23, 10, 15)),         # 10:15 has passed today
    ("cron(0 9 ? * MON-FRI *)", datetime(2026, 11, 23, 9, 0)),       # next weekday morning
    ("cron(0 9 ? * 1 *)", datetime(2026, 11, 29, 9, 0)),             # 1 = Sunday: next Sunday
    ("cron(0 12 L * ? *)", datetime(2026, 11, 30, 12, 0)),           # last day of the month
    ("cron(0 0 1 JAN ? 2027)", datetime(2027, 1, 1, 0, 0)),
    ("cron(0,30 8-9 ? * SAT *)", datetime(2026, 11, 28, 8, 0)),
])
def test_cron(expr: str, expected: datetime) -> None:
    assert nxt(expr) == expected.replace(tzinfo=timezone.utc)


def test_firings_are_strictly_after() -> None:
    on_the_hour = datetime(2026, 11, 22, 11, 0, tzinfo=timezone.utc)
    assert nxt("cron(0 * ? * * *)", on_the_hour) == on_the_hour + timedelta(hours=1)


@pytest.mark.parametrize("expr, message", [
    ("every hour", "expected cron"),
    ("cron(0 * * *)", "6 fields"),
    ("cron(0 * * * * *)", "exactly one of day-of-month and day-of-week"),
    ("cron(61 * ? * * *)", "minutes"),
    ("cron(0 * ? FOO * *)", "month"),
    ("rate(0 minutes)", "positive"),
    ("rate(5 minute)", "N minutes"),
    ("cron(0 0 31 2 ? 2027)", "never fires"),
])
def test_invalid_expressions(expr: str, message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        nxt(expr)
