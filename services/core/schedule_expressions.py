"""``cron(...)`` and ``rate(...)`` schedule expressions, as AWS writes them.

Headwater fires schedules with its own clock (moto fires no scheduled
rules), so it needs the next firing time of an expression:

* ``rate(5 minutes)``, ``rate(1 hour)``, ``rate(1 day)``;
* ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``: six fields,
  ``*``, ``?``, lists, ranges, ``/`` steps, ``L`` (last day of month), names
  (``JAN``, ``MON``); day-of-week counts 1-7 from Sunday; one of the two day
  fields must be ``?``. Times are UTC.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from services.core.exceptions import ValidationException

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {d: i + 1 for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_SEARCH_DAYS = 366 * 5


@dataclass(frozen=True)
class Rate:
    """``rate(N unit)``: every N units from the schedule's start."""

    every: timedelta

    def next_after(self, when: datetime, start: datetime | None = None) -> datetime:
        """The first firing strictly after ``when`` (aligned to ``start``, default ``when``)."""
        origin = start or when
        if when < origin:
            return origin
        periods = int((when - origin) / self.every) + 1
        return origin + periods * self.every


@dataclass(frozen=True)
class Cron:
    """``cron(...)`` with AWS's six fields."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # None: "?"
    last_day: bool
    months: frozenset[int]
    weekdays: frozenset[int] | None  # 1 = Sunday
    years: frozenset[int] | None  # None: any

    def next_after(self, when: datetime, start: datetime | None = None) -> datetime:
        """The first firing strictly after ``when``."""
        t = when.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = t.replace(hour=0, minute=0)
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= t:
                            return candidate
            day += timedelta(days=1)
        raise ValidationException("Schedule expression never fires in the next five years")

    def _day_matches(self, day: datetime) -> bool:
        if self.years is not None and day.year not in self.years:
            return False
        if day.month not in self.months:
            return False
        if self.last_day:
            return day.day == calendar.monthrange(day.year, day.month)[1]
        if self.days is not None:
            return day.day in self.days
        assert self.weekdays is not None
        return (day.isoweekday() % 7) + 1 in self.weekdays  # isoweekday: Mon=1..Sun=7


Schedule = Rate | Cron


def parse_schedule(expression: str) -> Schedule:
    """Parse a schedule expression; ``ValidationException`` naming what is wrong."""
    expression = expression.strip()
    if m := _RATE.match(expression):
        n, unit = int(m.group(1)), m.group(2).rstrip("s")
        if n < 1:
            raise ValidationException(f"Invalid schedule expression {expression!r}: the rate must be positive")
        if n != 1 and not m.group(2).endswith("s") or n == 1 and m.group(2).endswith("s"):
            raise ValidationException(f"Invalid schedule expression {expression!r}: use '1 {unit}' or 'N {unit}s'")
        return Rate({"minute": timedelta(minutes=n), "hour": timedelta(hours=n), "day": timedelta(days=n)}[unit])
    if m := _CRON.match(expression):
        return _parse_cron(expression, m.group(1).split())
    raise ValidationException(f"Invalid schedule expression {expression!r}: expected cron(...) or rate(...)")


def _parse_cron(expression: str, fields: list[str]) -> Cron:
    if len(fields) != 6:
        raise ValidationException(f"Invalid schedule expression {expression!r}: cron needs 6 fields "
                                  f"(minutes hours day-of-month month day-of-week year), got {len(fields)}")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ValidationException(f"Invalid schedule expression {expression!r}: exactly one of day-of-month "
                                  f"and day-of-week must be '?'")

    def field(text: str, low: int, high: int, names: dict[str, int] | None = None, what: str = "") -> frozenset[int]:
        values: set[int] = set()
        for part in text.split(","):
            step = 1
            if "/" in part:
                part, step_text = part.split("/", 1)
                step = _number(step_text, expression, what)
            if part in ("*", ""):
                lo, hi = low, high
            elif "-" in part:
                a, b = part.split("-", 1)
                lo, hi = _value(a, names, expression, what), _value(b, names, expression, what)
            else:
                lo = _value(part, names, expression, what)
                hi = high if "/" in text else lo
            if not (low <= lo <= high and low <= hi <= high) or step < 1:
                raise ValidationException(f"Invalid schedule expression {expression!r}: {what} {text!r} "
                                          f"is outside {low}-{high}")
            values.update(range(lo, hi + 1, step))
        return frozenset(values)

    return Cron(
        minutes=field(minute, 0, 59, what="minutes"),
        hours=field(hour, 0, 23, what="hours"),
        days=None if dom in ("?", "L") else field(dom, 1, 31, what="day-of-month"),
        last_day=dom == "L",
        months=field(month, 1, 12, _MONTHS, "month"),
        weekdays=None if dow == "?" else field(dow, 1, 7, _DAYS, "day-of-week"),
        years=None if year == "*" else field(year, 1970, 2199, what="year"),
    )


def _number(text: str, expression: str, what: str) -> int:
    if not text.isdigit():
        raise ValidationException(f"Invalid schedule expression {expression!r}: {what} {text!r} is not a number")
    return int(text)


def _value(text: str, names: dict[str, int] | None, expression: str, what: str) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    return _number(text, expression, what)
