"""Property paths of SageMaker ``Search``: a dotted ``Name`` resolved against a SearchRecord member's shape.

A filter's ``Name`` (and ``SortBy``) is a path into the record of the
searched resource as botocore's model describes it (``TrainingJob``,
``ModelPackage``, ``TrialComponent``...): structure members by name, lists
crossed implicitly (``InputDataConfig.ChannelName`` reaches every channel's
name), maps keyed by the rest of the path (``HyperParameters.eta``,
``Parameters.SageMaker.InstanceType``). Three names are SageMaker's own:
``Tags.<key>`` (the value of that tag), ``Metrics.<name>`` on a record
without a ``Metrics`` member (the final value of that metric in
``FinalMetricDataList``) and ``HyperParameters.<name>``, whose string values
compare as numbers when the filter's value is one. A path may also start
with the record's own name (``TrialComponent.DisplayName``).

Resolving checks the path against the shape once, so a name that is no
property of the record is the caller's ``ValidationException``; the typed
path then reads every value it reaches in a record (several through a list,
none where the property is absent).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from services.core.exceptions import ValidationException


class PropertyType(enum.Enum):
    """What a path's values are, which decides the operators a filter may use on it."""

    TEXT = "text"
    NUMBER = "numeric"
    TIMESTAMP = "timestamp"
    BOOLEAN = "Boolean"
    PARAMETER = "hyperparameter"  # text that compares as a number against a numeric value
    CONTAINER = "structured"  # a structure, list or map: only Exists / NotExists


_SCALARS = {"string": PropertyType.TEXT, "integer": PropertyType.NUMBER, "long": PropertyType.NUMBER,
            "double": PropertyType.NUMBER, "float": PropertyType.NUMBER, "timestamp": PropertyType.TIMESTAMP,
            "boolean": PropertyType.BOOLEAN}


@dataclass(frozen=True)
class Step:
    """One move along a path: ``member`` of a structure, every item of a list (``each``), the value under
    ``key`` in a map, the named item of a keyed list (``Tags`` by ``Key``, metrics by ``MetricName``), or
    the scalar a structured map value carries (``scalar``)."""

    kind: str  # "member" | "each" | "key" | "item" | "scalar"
    name: str = ""
    key_field: str = ""  # for "item": the field naming the item
    value_field: str = ""  # for "item": the field holding its value


@dataclass(frozen=True)
class PropertyPath:
    """A resolved ``Name``: the steps into a record, its type, and the shape it ends on."""

    name: str
    steps: tuple[Step, ...]
    type: PropertyType
    shape: Shape | None  # None for the values SageMaker names itself (a tag's, a metric's)

    def values(self, record: Any) -> list[Any]:
        """Every value the path reaches in ``record`` (empty: the property does not exist there); an enum
        member as its value, as it is on the wire."""
        return [v.value if isinstance(v, enum.Enum) else v for v in _walk(record, self.steps) if v is not None]


def _walk(value: Any, steps: tuple[Step, ...]) -> Iterator[Any]:
    if not steps:
        yield value
        return
    step, rest = steps[0], steps[1:]
    if step.kind == "scalar":
        yield from _walk(_scalar_of(value), rest)
    elif step.kind == "each":
        if isinstance(value, list):
            for item in value:
                yield from _walk(item, rest)
    elif step.kind == "item":
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and item.get(step.key_field) == step.name:
                    yield from _walk(item.get(step.value_field), rest)
    elif isinstance(value, dict) and step.name in value:  # "member" and "key"
        yield from _walk(value[step.name], rest)


def _scalar_of(value: Any) -> Any:
    """A trial component's parameter (``NumberValue`` or ``StringValue``) or artifact (``Value``) as the
    one scalar it carries."""
    if isinstance(value, dict):
        for field in ("NumberValue", "StringValue", "Value"):
            if field in value:
                return value[field]
    return None


def resolve(record: StructureShape, resource: str, name: str) -> PropertyPath:
    """``name`` as a path into ``record`` (the SearchRecord member of ``resource``).

    :raises ValidationException: ``name`` is not a property of the record.
    """
    try:
        return _resolve(record, name, name.split("."))
    except _NotAPath as first:
        head, _, rest = name.partition(".")
        if head == record.name or (rest and head == _record_label(record)):
            try:
                return _resolve(record, name, rest.split("."))
            except _NotAPath:
                pass
        raise ValidationException(f"Invalid property name '{name}' for resource {resource}: {first}") from None


def _record_label(shape: StructureShape) -> str:
    # The record's member name in SearchRecord where it differs from its shape's name.
    return {"HyperParameterTuningJobSearchEntity": "HyperParameterTuningJob",
            "ModelDashboardModel": "Model"}.get(shape.name, shape.name)


class _NotAPath(Exception):
    """The segment that is no property of the shape it was looked up in."""


def _resolve(shape: Shape, name: str, segments: list[str]) -> PropertyPath:
    steps: list[Step] = []
    i = 0
    while i < len(segments):
        segment = segments[i]
        if isinstance(shape, ListShape):
            steps.append(Step("each"))
            shape = shape.member
            continue
        if isinstance(shape, MapShape):
            return _map_entry(name, steps, shape, segments[i:])
        if not isinstance(shape, StructureShape):
            raise _NotAPath(f"'{segment}' is not a property of a {shape.type_name} value")
        rest = ".".join(segments[i + 1:])
        if segment == "Tags" and "Tags" in shape.members and rest:
            steps += [Step("member", "Tags"), Step("item", rest, "Key", "Value")]
            return PropertyPath(name, tuple(steps), PropertyType.TEXT, None)
        if segment == "Metrics" and "Metrics" not in shape.members and "FinalMetricDataList" in shape.members:
            if not rest:
                raise _NotAPath("'Metrics' needs a metric name: Metrics.<name>")
            steps += [Step("member", "FinalMetricDataList"), Step("item", rest, "MetricName", "Value")]
            return PropertyPath(name, tuple(steps), PropertyType.NUMBER, None)
        if segment not in shape.members:
            raise _NotAPath(f"'{segment}' is not a property of {shape.name}")
        steps.append(Step("member", segment))
        shape = shape.members[segment]
        i += 1
    return PropertyPath(name, tuple(steps), _SCALARS.get(shape.type_name, PropertyType.CONTAINER), shape)


def _map_entry(name: str, steps: list[Step], shape: MapShape, segments: list[str]) -> PropertyPath:
    """The value under a key of a map: the key is the rest of the path (keys may hold dots), or all of it
    but a last segment naming a field of a structured value (``Parameters.lr.NumberValue``)."""
    value = shape.value
    if isinstance(value, StructureShape) and len(segments) > 1 and segments[-1] in value.members:
        field = value.members[segments[-1]]
        path = (*steps, Step("key", ".".join(segments[:-1])), Step("member", segments[-1]))
        return PropertyPath(name, path, _SCALARS.get(field.type_name, PropertyType.CONTAINER), field)
    path = (*steps, Step("key", ".".join(segments)))
    if value.type_name == "string":
        # Hyperparameters (and other string maps) hold numbers as text: SageMaker compares them as numbers.
        return PropertyPath(name, path, PropertyType.PARAMETER, value)
    if isinstance(value, StructureShape) and ({"StringValue", "NumberValue"} & set(value.members)):
        return PropertyPath(name, (*path, Step("scalar")), PropertyType.PARAMETER, value)  # a parameter
    if isinstance(value, StructureShape) and "Value" in value.members:
        return PropertyPath(name, (*path, Step("scalar")), PropertyType.TEXT, value)  # an artifact: its Value
    return PropertyPath(name, path, _SCALARS.get(value.type_name, PropertyType.CONTAINER), value)


def as_time(value: Any) -> datetime | None:
    """A record's timestamp (a datetime, epoch seconds, or ISO 8601 text) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
