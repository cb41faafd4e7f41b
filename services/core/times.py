"""Time as AWS writes it: aware UTC datetimes to the millisecond, and JSON 1.1 timestamps."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from services.core.exceptions import ValidationException


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC), to the millisecond.

    AWS timestamps carry milliseconds; storing more would let a client that
    passes a returned ``CreationTime`` back as ``CreationTimeAfter`` match the
    same job again.
    """
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def parse_time(value: Any) -> datetime | None:
    """A JSON 1.1 timestamp (epoch seconds, or ISO 8601) as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as err:
        raise ValidationException(f"Invalid timestamp: {value!r}") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
