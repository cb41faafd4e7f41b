"""The definition language's values: ``Get``, ``Std:Join``, ``Std:JsonGet`` and the conditions.

A step's ``Arguments`` are plain JSON with expressions anywhere inside:

* ``{"Get": "Parameters.X"}``, ``{"Get": "Execution.PipelineExecutionId"}``,
  ``{"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}``;
* ``{"Std:Join": {"On": "/", "Values": [...]}}``;
* ``{"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Eval.PropertyFiles.F"}, "Path": "a.b[0]"}}``,
  or with ``"S3Uri"`` in place of ``PropertyFile``.

:func:`resolve` evaluates them against a :class:`Scope`; :func:`references`
lists the ``Get`` paths a value holds (for the create-time checks);
:func:`evaluate_condition` decides a Condition step's conditions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from services.pipelines.properties import PathError, lookup

EXECUTION_VARIABLES = frozenset({"PipelineExecutionId", "PipelineExecutionArn", "StartDateTime", "CurrentDateTime",
                                 "PipelineName", "PipelineArn", "PipelineExecutionDisplayName"})
CONDITION_TYPES = frozenset({"Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo", "In",
                             "Not", "Or"})
FUNCTIONS = ("Std:Join", "Std:JsonGet")


class ExpressionError(ValueError):
    """An expression that cannot be evaluated: its message says which and why (the step's failure reason)."""


@dataclass
class Scope:
    """What expressions read: typed parameters, execution variables, finished steps' properties, and JSON
    documents in S3 (property files).

    ``symbolic_execution``: execution variables stay as ``{Execution.X}`` text, so the same step of two
    executions resolves alike (the cache key).
    """

    parameters: dict[str, Any]
    execution: dict[str, Any]
    step_properties: Callable[[str], dict[str, Any] | None]
    property_file_uri: Callable[[str, str], str]
    read_json: Callable[[str], Awaitable[Any]]
    symbolic_execution: bool = False
    _files: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str) -> Any:
        """The value a ``Get`` names."""
        head, _, rest = path.partition(".")
        if head == "Parameters":
            if rest not in self.parameters:
                raise ExpressionError(f"Parameters.{rest} is not a parameter of the pipeline")
            return self.parameters[rest]
        if head == "Execution":
            if self.symbolic_execution:
                return "{Execution." + rest + "}"
            if rest not in self.execution:
                raise ExpressionError(f"Execution.{rest} is not an execution variable")
            return self.execution[rest]
        if head == "Steps":
            step, _, prop = rest.partition(".")
            properties = self.step_properties(step)
            if properties is None:
                raise ExpressionError(f"Steps.{step} has not succeeded in this execution: {path} has no value")
            try:
                return lookup(properties, prop)
            except PathError as err:
                raise ExpressionError(f"{path}: {err}") from err
        raise ExpressionError(f"cannot resolve {{'Get': {path!r}}}")

    async def json_at(self, uri: str) -> Any:
        """The JSON document at ``uri``, read once per scope."""
        if uri not in self._files:
            self._files[uri] = await self.read_json(uri)
        return self._files[uri]


def is_get(value: Any) -> bool:
    """Whether ``value`` is a ``{"Get": ...}`` expression."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("Get"), str)


def references(value: Any) -> Iterator[str]:
    """Every ``Get`` path inside ``value``."""
    if is_get(value):
        yield value["Get"]
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


async def resolve(value: Any, scope: Scope) -> Any:
    """``value`` with every expression in it evaluated."""
    if isinstance(value, dict):
        if is_get(value):
            return scope.get(value["Get"])
        if len(value) == 1 and "Std:Join" in value:
            return await _join(value["Std:Join"], scope)
        if len(value) == 1 and "Std:JsonGet" in value:
            return await _json_get(value["Std:JsonGet"], scope)
        return {k: await resolve(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [await resolve(v, scope) for v in value]
    return value


def to_text(value: Any) -> str:
    """A value as ``Std:Join`` writes it (booleans as JSON does)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


async def _join(spec: Any, scope: Scope) -> str:
    if not isinstance(spec, dict) or not isinstance(spec.get("Values"), list):
        raise ExpressionError("Std:Join takes {'On': <text>, 'Values': [...]}")
    on = to_text(await resolve(spec.get("On", ""), scope))
    return on.join([to_text(await resolve(v, scope)) for v in spec["Values"]])


async def _json_get(spec: Any, scope: Scope) -> Any:
    if not isinstance(spec, dict) or "Path" not in spec:
        raise ExpressionError("Std:JsonGet takes a PropertyFile (or an S3Uri) and a Path")
    path = to_text(await resolve(spec["Path"], scope))
    if scope.symbolic_execution:
        return "{JsonGet " + json.dumps(spec, sort_keys=True) + "}"
    if "PropertyFile" in spec:
        ref = spec["PropertyFile"]
        if not is_get(ref) or not ref["Get"].startswith("Steps."):
            raise ExpressionError("Std:JsonGet's PropertyFile must be {'Get': 'Steps.<step>.PropertyFiles.<name>'}")
        step, _, rest = ref["Get"].removeprefix("Steps.").partition(".")
        name = rest.removeprefix("PropertyFiles.")
        uri = scope.property_file_uri(step, name)
    elif "S3Uri" in spec:
        uri = to_text(await resolve(spec["S3Uri"], scope))
    else:
        raise ExpressionError("Std:JsonGet takes a PropertyFile or an S3Uri")
    return json_path(await scope.json_at(uri), path, uri)


_JSON_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def json_path(doc: Any, path: str, where: str = "the document") -> Any:
    """The value at a JsonGet ``Path`` (``a.b[0]['c d']``) in ``doc``."""
    value = doc
    pos = 0
    while pos < len(path):
        m = _JSON_STEP.match(path, pos)
        if m is None or m.end() == pos:
            raise ExpressionError(f"malformed JsonGet path {path!r}")
        key, index, single, double = m.groups()
        pos = m.end()
        try:
            if index is not None:
                value = value[int(index)]
            else:
                value = value[key if key is not None else single if single is not None else double]
        except (KeyError, IndexError, TypeError) as err:
            raise ExpressionError(f"JsonGet: {where} has nothing at {path!r}") from err
    return value


async def evaluate_condition(condition: dict[str, Any], scope: Scope) -> bool:
    """Whether one condition of a Condition step holds."""
    kind = condition.get("Type")
    if kind == "Not":
        return not await evaluate_condition(condition["Condition"], scope)
    if kind == "Or":
        for inner in condition["Conditions"]:
            if await evaluate_condition(inner, scope):
                return True
        return False
    if kind == "In":
        query = await resolve(condition["QueryValue"], scope)
        values = [await resolve(v, scope) for v in condition["Values"]]
        return any(_equal(query, v) for v in values)
    left = await resolve(condition.get("LeftValue"), scope)
    right = await resolve(condition.get("RightValue"), scope)
    if kind == "Equals":
        return _equal(left, right)
    a, b = _comparable(left, right, kind or "?")
    return {"GreaterThan": a > b, "GreaterThanOrEqualTo": a >= b, "LessThan": a < b,
            "LessThanOrEqualTo": a <= b}[kind]  # type: ignore[index]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return to_text(left).lower() == to_text(right).lower()
    a, b = _number(left), _number(right)
    if a is not None and b is not None and not (isinstance(left, str) and isinstance(right, str)):
        return a == b
    return left == right


def _comparable(left: Any, right: Any, kind: str) -> tuple[Any, Any]:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a, b
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    raise ExpressionError(f"{kind} compares numbers or texts, not {left!r} and {right!r}")
