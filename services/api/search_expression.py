"""SageMaker ``Search`` expressions: parsed once against the record's shape, then matched on each record.

A ``SearchExpression`` holds ``Filters`` (a property, an operator, a value),
``NestedFilters`` (filters one item of a list must all satisfy) and
``SubExpressions``, joined by its ``Operator`` (``And``, the default, or
``Or``). Parsing checks what SageMaker checks: each ``Name`` is a property of
the record (:mod:`services.api.search_paths`), the operator suits the
property's type (``GreaterThan`` and friends: numbers and timestamps,
``Contains`` and ``In``: text, ``Exists`` / ``NotExists``: anything), the
value parses as that type, at most 50 elements in all and one ``Contains``
but on the names SageMaker lets repeat it. Every failure is a
``ValidationException`` naming the filter.

Matching: a path that crosses a list matches when any value it reaches does
(``NotEquals``: when none equals); a missing property matches only
``NotExists`` and ``NotEquals``; ``Contains`` ignores case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from botocore.model import ListShape, StructureShape

from services.api.search_paths import PropertyPath, PropertyType, as_time, resolve
from services.core.exceptions import ValidationException

_COMPARISONS = {"GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo"}
_ALLOWED: dict[PropertyType, set[str]] = {
    PropertyType.TEXT: {"Equals", "NotEquals", "Contains", "In", "Exists", "NotExists"},
    PropertyType.NUMBER: {"Equals", "NotEquals", "Exists", "NotExists", *_COMPARISONS},
    PropertyType.TIMESTAMP: {"Equals", "NotEquals", "Exists", "NotExists", *_COMPARISONS},
    PropertyType.BOOLEAN: {"Equals", "NotEquals", "Exists", "NotExists"},
    PropertyType.PARAMETER: {"Equals", "NotEquals", "Contains", "In", "Exists", "NotExists", *_COMPARISONS},
    PropertyType.CONTAINER: {"Exists", "NotExists"},
}
MAX_ELEMENTS = 50
# The names SageMaker lets a SearchExpression use Contains on more than once.
_REPEATABLE_CONTAINS = {f"{record}.{prop}" for record in ("Experiment", "Trial", "TrialComponent")
                        for prop in ("DisplayName", "Tags")} | {
    "Experiment.ExperimentName", "Trial.TrialName", "TrialComponent.TrialComponentName",
    "TrialComponent.InputArtifacts", "TrialComponent.OutputArtifacts"}


@dataclass(frozen=True)
class Filter:
    """One parsed ``Filter``: ``matches(record)``."""

    path: PropertyPath
    operator: str
    value: Any  # parsed for the path's type; a set of texts for In; None for Exists / NotExists

    def matches(self, record: Any) -> bool:
        """Whether ``record`` satisfies the filter."""
        found = self.path.values(record)
        if self.operator == "Exists":
            return bool(found)
        if self.operator == "NotExists":
            return not found
        if self.operator == "NotEquals":
            return not any(self._equals(v) for v in found)
        if self.operator == "Equals":
            return any(self._equals(v) for v in found)
        if self.operator == "Contains":
            return any(isinstance(v, str) and self.value.lower() in v.lower() for v in found)
        if self.operator == "In":
            return any(str(v) in self.value for v in found)
        return any(_compare(self.operator, c) for v in found if (c := self._order(v, truncate=True)) is not None)

    def _equals(self, found: Any) -> bool:
        if self.path.type is PropertyType.TEXT:
            return isinstance(found, str) and found == self.value
        if self.path.type is PropertyType.PARAMETER and not isinstance(self.value, (int, float)):
            return str(found) == self.value
        return self._order(found) == 0

    def _order(self, found: Any, truncate: bool = False) -> int | None:
        """-1, 0 or 1 as ``found`` is below, at or above the filter's value; None where it has no order.
        ``truncate``: a comparison, where SageMaker compares decimal hyperparameters against an integer
        value as integers."""
        kind = self.path.type
        if kind is PropertyType.TIMESTAMP:
            mine = as_time(found)
        elif kind is PropertyType.BOOLEAN:
            mine = found if isinstance(found, bool) else None
        else:
            mine = _number(found)
            if mine is not None and truncate and kind is PropertyType.PARAMETER and isinstance(self.value, int):
                mine = math.trunc(mine)
        if mine is None or (kind is PropertyType.PARAMETER and not isinstance(self.value, (int, float))):
            return None
        return (mine > self.value) - (mine < self.value)


def _compare(operator: str, order: int) -> bool:
    return {"GreaterThan": order > 0, "GreaterThanOrEqualTo": order >= 0, "LessThan": order < 0,
            "LessThanOrEqualTo": order <= 0}[operator]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Nested:
    """One parsed ``NestedFilters``: some item of the list satisfies every filter."""

    path: PropertyPath
    filters: tuple[Filter, ...]

    def matches(self, record: Any) -> bool:
        """Whether one item of the nested list satisfies all the filters."""
        items = [item for found in self.path.values(record) for item in (found if isinstance(found, list) else [])]
        return any(all(f.matches(item) for f in self.filters) for item in items)


@dataclass(frozen=True)
class Expression:
    """A parsed ``SearchExpression``."""

    operator: str
    conditions: tuple[Filter | Nested | Expression, ...]

    def matches(self, record: Any) -> bool:
        """Whether ``record`` satisfies the expression."""
        join = any if self.operator == "Or" else all
        return join(c.matches(record) for c in self.conditions)


class ExpressionParser:
    """Parses expressions for one resource, against its SearchRecord member's shape."""

    def __init__(self, resource: str, record: StructureShape) -> None:
        self.resource = resource
        self.record = record

    def path(self, name: str) -> PropertyPath:
        """``name`` resolved against the record (``ValidationException`` if it is none of its properties)."""
        return resolve(self.record, self.resource, name)

    def parse(self, expression: dict[str, Any]) -> Expression:
        """The parsed expression; ``ValidationException`` naming what is wrong with it."""
        if _count(expression) > MAX_ELEMENTS:
            raise ValidationException(f"A SearchExpression can include at most {MAX_ELEMENTS} Filters, "
                                      f"NestedFilters and SubExpressions in all")
        contains = [f["Name"] for f in _all_filters(expression) if f.get("Operator") == "Contains"]
        if len([n for n in contains if n not in _REPEATABLE_CONTAINS]) > 1:
            raise ValidationException("'CONTAINS' operator usage limit of 1 exceeded.")
        return self._expression(expression)

    def _expression(self, expression: dict[str, Any]) -> Expression:
        conditions: list[Filter | Nested | Expression] = [
            *(self._filter(f, self.record) for f in expression.get("Filters") or []),
            *(self._nested(n) for n in expression.get("NestedFilters") or []),
            *(self._expression(e) for e in expression.get("SubExpressions") or [])]
        if not conditions:
            raise ValidationException("A SearchExpression must include at least one Filter, NestedFilter or "
                                      "SubExpression")
        return Expression(expression.get("Operator", "And"), tuple(conditions))

    def _filter(self, spec: dict[str, Any], shape: StructureShape, prefix: str = "") -> Filter:
        name = spec["Name"]
        path = resolve(shape, self.resource, name[len(prefix):]) if prefix else self.path(name)
        path = PropertyPath(name, path.steps, path.type, path.shape)
        operator = spec.get("Operator") or "Equals"  # SageMaker: a Value without an Operator is Equals
        if operator not in _ALLOWED[path.type]:
            raise ValidationException(f"The operator {operator} is not supported for the {path.type.value} "
                                      f"property '{name}' of {self.resource}")
        if operator in ("Exists", "NotExists"):
            return Filter(path, operator, None)
        if spec.get("Value") is None:
            raise ValidationException(f"The filter on '{name}' with operator {operator} needs a Value")
        return Filter(path, operator, _parse_value(path, operator, spec["Value"]))

    def _nested(self, spec: dict[str, Any]) -> Nested:
        nested_name = spec["NestedPropertyName"]
        path = self.path(nested_name)
        if not isinstance(path.shape, ListShape) or not isinstance(path.shape.member, StructureShape):
            raise ValidationException(f"NestedPropertyName '{nested_name}' of {self.resource} is not a list of "
                                      f"structures")
        prefix = nested_name + "."
        for f in spec["Filters"]:
            if not f["Name"].startswith(prefix):
                raise ValidationException(f"The nested filter on '{f['Name']}' must name a property of "
                                          f"'{nested_name}' ('{prefix}<property>')")
        return Nested(path, tuple(self._filter(f, path.shape.member, prefix) for f in spec["Filters"]))


def _parse_value(path: PropertyPath, operator: str, text: str) -> Any:
    kind = path.type
    if operator == "In":
        return {v.strip() for v in text.split(",")}
    if kind is PropertyType.NUMBER or (kind is PropertyType.PARAMETER and operator in _COMPARISONS):
        number = _number(text)
        if number is None or not math.isfinite(number):
            raise ValidationException(f"The value '{text}' of the filter on '{path.name}' is not a number")
        return int(text) if text.strip().lstrip("+-").isdigit() else number
    if kind is PropertyType.PARAMETER:
        number = _number(text)  # Equals on a hyperparameter: as a number when the value is one
        return text if number is None else (int(text) if text.strip().lstrip("+-").isdigit() else number)
    if kind is PropertyType.TIMESTAMP:
        when = as_time(_number(text) if _number(text) is not None else text)
        if when is None:
            raise ValidationException(f"The value '{text}' of the filter on '{path.name}' is not a timestamp "
                                      f"(YYYY-mm-ddTHH:MM:SS)")
        return when
    if kind is PropertyType.BOOLEAN:
        if text.lower() not in ("true", "false"):
            raise ValidationException(f"The value '{text}' of the filter on '{path.name}' is not true or false")
        return text.lower() == "true"
    return text


def _all_filters(expression: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(expression.get("Filters") or [])
    for nested in expression.get("NestedFilters") or []:
        found += nested.get("Filters") or []
    for sub in expression.get("SubExpressions") or []:
        found += _all_filters(sub)
    return found


def _count(expression: dict[str, Any]) -> int:
    return (len(expression.get("Filters") or []) + len(expression.get("NestedFilters") or [])
            + sum(1 + _count(e) for e in expression.get("SubExpressions") or []))


def sort_records(records: list[Any], paths: list[PropertyPath], descending: bool) -> list[Any]:
    """``records`` ordered by the first value the first of ``paths`` that reaches one reaches in each
    (timestamps as times, numbers as numbers, texts as texts; numbers before texts in a mixed property),
    records without one last in either order; ties keep their order."""

    keyed: list[tuple[tuple[int, Any], Any]] = []
    missing: list[Any] = []
    for record in records:
        found = next(((path, values[0]) for path in paths if (values := path.values(record))), None)
        if found is None:
            missing.append(record)
        else:
            keyed.append((_sort_value(*found), record))
    keyed.sort(key=lambda pair: pair[0], reverse=descending)
    return [record for _, record in keyed] + missing


def _sort_value(path: PropertyPath, value: Any) -> tuple[int, Any]:
    if path.type is PropertyType.TIMESTAMP and (when := as_time(value)) is not None:
        return (0, when)
    if path.type is not PropertyType.TEXT and (number := _number(value)) is not None:
        return (1, number)
    return (2, str(value))
