"""Typed, range-checked hyperparameters, parsed from SageMaker's string values.

An algorithm declares a table of ``Hyperparameter`` specs; ``parse`` turns the
job's ``{name: "string"}`` map into typed values and raises a
``CustomerError`` naming the offending hyperparameter for an unknown name, a
missing required one, a value of the wrong type or one out of range. Keys the
SageMaker SDK and the tuner add on their own (``sagemaker_*``, ``_*``) are
ignored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from containers.common.errors import CustomerError

IGNORED_PREFIXES = ("sagemaker_", "_")


@dataclass(frozen=True)
class Interval:
    """A numeric range; ``None`` bounds are unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def __str__(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "+inf" if self.high is None else f"{self.high:g}"
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"{left}{low}, {high}{right}"


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter: its kind (int, float, str, list), default and constraint."""

    name: str
    kind: str  # "int" | "float" | "str" | "list" | "bool"
    default: Any = None
    interval: Interval | None = None
    choices: Sequence[str] | None = None
    required: bool = False
    # SageMaker lets many numeric hyperparameters be "auto" (the algorithm decides): parsed as "auto".
    auto: bool = False

    def parse(self, raw: str) -> Any:
        """Parse and check ``raw``; raise ``CustomerError`` naming this hyperparameter."""
        text = _unquote(raw).strip()
        if self.auto and text.lower() == "auto":
            return "auto"
        if self.kind == "bool":
            if text.lower() not in ("true", "false"):
                raise self._error(raw, "must be true or false" + (" or auto" if self.auto else ""))
            return text.lower() == "true"
        if self.kind == "list":
            items = [item.strip() for item in text.split(",") if item.strip()]
            if not items:
                raise self._error(raw, "expected a comma-separated list")
            for item in items:
                self._check_choice(item, raw)
            return items
        if self.kind == "str":
            self._check_choice(text, raw)
            return text
        value = _number(text, integer=self.kind == "int")
        if value is None:
            raise self._error(raw, "expected an integer" if self.kind == "int" else "expected a number")
        if self.interval is not None and value not in self.interval:
            raise self._error(raw, f"must be in {self.interval}")
        return value

    def _check_choice(self, value: str, raw: str) -> None:
        if self.choices is not None and value not in self.choices:
            raise self._error(raw, "must be one of " + ", ".join(self.choices))

    def _error(self, raw: str, why: str) -> CustomerError:
        return CustomerError(f"Hyperparameter '{self.name}' has invalid value {raw!r}: {why}.")


def _unquote(raw: str) -> str:
    # The SageMaker SDK's framework estimators JSON-encode string values.
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            decoded = json.loads(raw)
        except ValueError:
            return raw
        return decoded if isinstance(decoded, str) else raw
    return raw


def _number(text: str, *, integer: bool) -> int | float | None:
    """Parse a number; an integer may be written ``"10"`` or ``"10.0"`` (tuners do)."""
    if integer:
        try:
            return int(text)  # exact, even beyond float precision (seeds)
        except ValueError:
            pass
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    if integer:
        return int(value) if value.is_integer() else None
    return value


def parse(specs: Sequence[Hyperparameter], raw: Mapping[str, str]) -> dict[str, Any]:
    """Parse ``raw`` against ``specs``: provided values plus non-``None`` defaults."""
    by_name = {spec.name: spec for spec in specs}
    unknown = sorted(name for name in raw if name not in by_name and not name.startswith(IGNORED_PREFIXES))
    if unknown:
        raise CustomerError(
            "Unknown hyperparameter(s): " + ", ".join(unknown) + ". Check the spelling against the algorithm's list."
        )
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.name in raw:
            values[spec.name] = spec.parse(raw[spec.name])
        elif spec.required:
            raise CustomerError(f"Hyperparameter '{spec.name}' is required but was not provided.")
        elif spec.default is not None:
            values[spec.name] = spec.default
    return values
