"""The base of every model of an AWS API shape."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_pascal


class ApiModel(BaseModel):
    """Snake-case attributes, AWS's PascalCase names on the wire.

    Unknown members are kept (``extra="allow"``) so a request field Headwater
    does not model still round-trips to Describe* unchanged.
    """

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="allow")

    def to_api(self) -> dict[str, Any]:
        """The wire form: AWS names, no ``None`` members, datetimes kept."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="python")

    def to_json_doc(self) -> dict[str, Any]:
        """A JSON-safe form for the state store (datetimes as ISO strings)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC), to the millisecond.

    AWS timestamps carry milliseconds; storing more would let a client that
    passes a returned ``CreationTime`` back as ``CreationTimeAfter`` match the
    same job again.
    """
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
