"""Small helpers shared by the operation modules."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.exceptions import ValidationException

M = TypeVar("M", bound=BaseModel)


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


def parse_model(cls: type[M], params: dict[str, Any]) -> M:
    """``params`` as ``cls``; a mismatch is the caller's ``ValidationException``."""
    try:
        return cls.model_validate(params)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationException(f"1 validation error detected: Value at '{where}' failed to satisfy "
                                  f"constraint: {first['msg']}") from err
