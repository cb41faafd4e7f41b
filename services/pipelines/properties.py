"""``Steps.<name>.<path>``: a step's properties follow its Describe* response, as SageMaker's do.

A path is member names joined by ``.``, each optionally indexed: ``[0]`` for
a list position, ``['key']`` for a map entry or for the list member whose
name member (``OutputName``, ``MetricName``, ``ChannelName``...) is ``key``:
``ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri``. A definition is
checked against botocore's output shapes of each step type's Describe*
operation when it is created, and a step reads the response it stored when
its job ended.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape

#: Where each step type's properties come from: the Describe* (and List*) operations whose responses merge.
PROPERTY_OPERATIONS: dict[str, tuple[str, ...]] = {
    "Training": ("DescribeTrainingJob",),
    "Processing": ("DescribeProcessingJob",),
    "Transform": ("DescribeTransformJob",),
    "Tuning": ("DescribeHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob"),
    "Model": ("DescribeModel",),
    "RegisterModel": ("DescribeModelPackage",),
    "EndpointConfig": ("DescribeEndpointConfig",),
    "Endpoint": ("DescribeEndpoint",),
}
#: Properties of the step types that run no job.
PLAIN_PROPERTIES: dict[str, frozenset[str]] = {"Condition": frozenset({"Outcome"}), "Fail": frozenset(),
                                                # their OutputParameters['<name>'], as the step declares them
                                                "Lambda": frozenset(), "Callback": frozenset()}

_SEGMENT = re.compile(r"(?P<name>[A-Za-z0-9_]+)(?P<indexes>(?:\[(?:\d+|'[^']*'|\"[^\"]*\")\])*)")
_INDEX = re.compile(r"\[(?:(?P<position>\d+)|'(?P<single>[^']*)'|\"(?P<double>[^\"]*)\")\]")


@dataclass(frozen=True)
class Key:
    """A ``['key']`` index: a map entry, or the list member named ``key``."""

    value: str


Part = str | int | Key


class PathError(ValueError):
    """A property path that is malformed, or that the step's shape does not have."""


def parse_path(path: str) -> list[Part]:
    """``A.B['k'].C[0]`` as ``["A", "B", Key("k"), "C", 0]``; :class:`PathError` when malformed."""
    parts: list[Part] = []
    rest = path
    while rest:
        m = _SEGMENT.match(rest)
        if m is None:
            raise PathError(f"malformed property path {path!r}")
        parts.append(m["name"])
        for index in _INDEX.finditer(m["indexes"]):
            if index["position"] is not None:
                parts.append(int(index["position"]))
            else:
                parts.append(Key(index["single"] if index["single"] is not None else index["double"]))
        rest = rest[m.end():]
        if rest:
            if not rest.startswith(".") or len(rest) == 1:
                raise PathError(f"malformed property path {path!r}")
            rest = rest[1:]
    if not parts:
        raise PathError("empty property path")
    return parts


@functools.lru_cache(maxsize=1)
def _model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def check_path(step_type: str, path: str) -> None:
    """Raise :class:`PathError` unless ``path`` names a property a ``step_type`` step has."""
    parts = parse_path(path)
    if step_type in PLAIN_PROPERTIES:
        if len(parts) != 1 or parts[0] not in PLAIN_PROPERTIES[step_type]:
            raise PathError(f"a {step_type} step has no property {path!r}")
        return
    shapes = [_model().operation_model(op).output_shape for op in PROPERTY_OPERATIONS[step_type]]
    first = parts[0]
    shape = next((s.members[first] for s in shapes if isinstance(first, str) and first in s.members), None)
    if shape is None:
        raise PathError(f"a {step_type} step has no property {first!r}")
    walked = str(first)
    for part in parts[1:]:
        shape = _step_into(shape, part, walked)
        walked += f"[{part.value!r}]" if isinstance(part, Key) else f"[{part}]" if isinstance(part, int) else f".{part}"


def _step_into(shape: Shape, part: Part, walked: str) -> Shape:
    if isinstance(part, str):
        if isinstance(shape, StructureShape) and part in shape.members:
            return shape.members[part]
        raise PathError(f"{walked} has no member {part!r}")
    if isinstance(shape, MapShape) and isinstance(part, Key):
        return shape.value
    if isinstance(shape, ListShape):
        if isinstance(part, int):
            return shape.member
        if isinstance(shape.member, StructureShape) and _name_members(shape.member):
            return shape.member
        raise PathError(f"{walked} is a list of {shape.member.name} indexed by position, not by key")
    raise PathError(f"{walked} is not a list or a map: it takes no index")


def _name_members(shape: StructureShape) -> list[str]:
    """The members a keyed index may match: the structure's names (``OutputName``, ``MetricName``...)."""
    return [name for name, member in shape.members.items()
            if name.endswith("Name") and member.type_name == "string"]


def lookup(properties: dict[str, Any], path: str) -> Any:
    """The value at ``path`` in a stored Describe* response; :class:`PathError` when it is absent."""
    value: Any = properties
    walked = ""
    for part in parse_path(path):
        walked += _show(part) if walked else str(part)
        value = _index(value, part, walked)
    return value


def _index(value: Any, part: Part, walked: str) -> Any:
    if isinstance(part, str):
        if isinstance(value, dict) and part in value:
            return value[part]
    elif isinstance(part, int):
        if isinstance(value, list) and part < len(value):
            return value[part]
    elif isinstance(value, dict):
        if part.value in value:
            return value[part.value]
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and any(k.endswith("Name") and v == part.value for k, v in item.items()):
                return item
    raise PathError(f"the step's properties have no {walked}")


def _show(part: Part) -> str:
    if isinstance(part, Key):
        return f"[{part.value!r}]"
    if isinstance(part, int):
        return f"[{part}]"
    return f".{part}"
