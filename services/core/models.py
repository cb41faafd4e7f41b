"""The base of every model of an AWS API shape, and parsing a request into one."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_pascal

from services.core.exceptions import ValidationException

M = TypeVar("M", bound=BaseModel)


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


def parse_model(cls: type[M], params: dict[str, Any]) -> M:
    """``params`` as ``cls``; a mismatch is the caller's ``ValidationException``."""
    try:
        return cls.model_validate(params)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationException(f"1 validation error detected: Value at '{where}' failed to satisfy "
                                  f"constraint: {first['msg']}") from err
