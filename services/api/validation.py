"""Validate AWS JSON 1.1 request parameters the way AWS's own front end does.

The constraints come from botocore's copy of the service model (the same file
boto3 users have), so every operation we implement is checked against the
real input shape without hand-written schemas.

Two kinds of failure, mirroring AWS, which deserializes a request before it
validates it:

* A value of the wrong JSON *type* (an object where a string belongs, a
  string where a number belongs) cannot be deserialized at all. AWS answers
  ``SerializationException`` with a Jackson-style message and stops at the
  first one, e.g. ``NUMBER_VALUE can not be converted to a String``. We raise
  :class:`~services.core.exceptions.SerializationException` the same way.
* A well-typed value that breaks a constraint (required, enum, length, range,
  pattern) is a *violation*. All violations are collected, in model member
  order, depth first, and reported in one
  :class:`~services.core.exceptions.ValidationException` whose message is AWS's::

      2 validation errors detected: Value 'bad name!' at 'trainingJobName'
      failed to satisfy constraint: Member must satisfy regular expression
      pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; Value null at 'roleArn'
      failed to satisfy constraint: Member must not be null

Conventions copied from AWS responses:

* paths are member names with a lower-case first letter joined by ``.``; a
  list item is ``<list>.<n>.member`` (1-based) and a map entry is
  ``<map>.<key>.member``;
* values print like Java's ``toString``: strings and numbers quoted
  (``'5'``), ``null`` bare, lists as ``'[a, b]'``, maps as ``'{k=v}'``;
  sensitive shapes print no value at all (``Value at 'x'``);
* a list or map of scalars is reported once, at the collection's path, with
  every constraint of the element shape: ``Member must satisfy constraint:
  [...]``, ``Map keys must satisfy constraint: [...]``, ``Map value must
  satisfy constraint: [...]``;
* at most :data:`MAX_REPORTED` violations are listed and counted.

Unknown members are ignored and JSON ``null`` means "absent", as on AWS,
except in operations whose handlers refuse them
(:func:`find_unknown_members`): a member Headwater would store without
effect must not pass silently.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import functools
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

import botocore.session
import regex
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape

from services.api.java_regex import compile_java
from services.core.exceptions import SerializationException, ValidationException

__all__ = [
    "MAX_REPORTED",
    "find_unknown_members",
    "find_violations",
    "format_violations",
    "load_service_model",
    "validate_input",
]

logger = logging.getLogger(__name__)

#: AWS lists (and counts) at most this many violations in one message.
MAX_REPORTED = 10

_INT_BOUNDS = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_JAVA_TYPE = {
    "string": "a String",
    "integer": "an Integer",
    "long": "a Long",
    "float": "a Float",
    "double": "a Double",
    "boolean": "a Boolean",
    "timestamp": "a Timestamp",
    "blob": "a Blob",
}


# --------------------------------------------------------------------------- model


@functools.cache
def load_service_model(service_name: str) -> ServiceModel:
    """Return botocore's model of ``service_name`` (e.g. ``"sagemaker"``), cached.

    Loading a model parses a large JSON file, so each service is read once
    per process.
    """
    return botocore.session.get_session().get_service_model(service_name)


def validate_input(service: str | ServiceModel, operation: str, params: Mapping[str, Any], *,
                   refuse_unknown: bool = False) -> None:
    """Check ``params`` against the input shape of ``operation``.

    :param service: a botocore service name or an already loaded model.
    :param operation: the operation name, e.g. ``"CreateTrainingJob"``.
    :param params: the parsed JSON request body.
    :param refuse_unknown: members the model does not know are a ``ValidationException`` in
        botocore's client-side wording (:func:`find_unknown_members`) instead of being ignored.
    :raises SerializationException: a value has the wrong JSON type.
    :raises ValidationException: one or more constraints are violated.
    :raises botocore.model.OperationNotFoundError: unknown operation.
    """
    model = load_service_model(service) if isinstance(service, str) else service
    shape = model.operation_model(operation).input_shape
    if shape is None:
        return
    if refuse_unknown:
        unknown = find_unknown_members(shape, dict(params))
        if unknown:
            raise ValidationException("Parameter validation failed:\n" + "\n".join(unknown))
    violations = find_violations(shape, params)
    if violations:
        raise ValidationException(format_violations(violations))


def find_unknown_members(shape: Shape, value: Any, name: str = "") -> list[str]:
    """Every member of ``value`` that ``shape`` does not know, at any depth, in botocore's words.

    A boto3 client refuses such a member before sending it (``Unknown parameter in
    InputDataConfig[0].DataSource: "X", must be one of: ...``); raw HTTP clients meet the same text
    here. Values of the wrong type are left to :func:`validate_input`.
    """
    if shape.metadata.get("document"):
        return []
    out: list[str] = []
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                out.append(f'Unknown parameter in {name or "input"}: "{key}", '
                           f"must be one of: {', '.join(shape.members)}")
            elif item is not None:
                out.extend(find_unknown_members(member, item, f"{name}.{key}" if name else key))
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(find_unknown_members(shape.member, item, f"{name}[{index}]"))
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            out.extend(find_unknown_members(shape.value, item, f"{name}.{key}"))
    return out


def find_violations(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Return every constraint violation of ``value`` against ``shape``.

    Each item reads ``Value ... at '<path>' failed to satisfy constraint: ...``.
    Use this directly to see all violations (the exception message is capped
    at :data:`MAX_REPORTED`).

    :raises SerializationException: a value has the wrong JSON type.
    """
    return list(_check(shape, value, path))


def format_violations(violations: list[str]) -> str:
    """Join violations into AWS's ``N validation error(s) detected: ...`` message."""
    shown = violations[:MAX_REPORTED]
    noun = "error" if len(shown) == 1 else "errors"
    return f"{len(shown)} validation {noun} detected: " + "; ".join(shown)


# --------------------------------------------------------------------------- walk


def _check(shape: Shape, value: Any, path: str) -> Iterator[str]:
    """Yield violations of a non-null ``value``; raise on a type mismatch."""
    if shape.metadata.get("document"):
        return  # free-form JSON: nothing to check
    kind = shape.type_name
    _check_type(kind, value)
    if kind == "structure":
        yield from _check_structure(shape, value, path)  # type: ignore[arg-type]
    elif kind == "list":
        yield from _check_list(shape, value, path)  # type: ignore[arg-type]
    elif kind == "map":
        yield from _check_map(shape, value, path)  # type: ignore[arg-type]
    else:
        for constraint in _failed_scalar_constraints(shape, value):
            yield _violation(shape, value, path, constraint)


def _check_structure(shape: StructureShape, value: dict, path: str) -> Iterator[str]:
    required = set(shape.required_members)
    for name, member in shape.members.items():
        member_path = f"{path}.{_lower_first(name)}" if path else _lower_first(name)
        member_value = value.get(member.serialization.get("name", name))
        if member_value is None:
            if name in required:
                yield _violation(member, None, member_path, "Member must not be null")
            continue
        yield from _check(member, member_value, member_path)


def _check_list(shape: ListShape, value: list, path: str) -> Iterator[str]:
    for constraint in _failed_length_constraints(shape, len(value)):
        yield _violation(shape, value, path, constraint)
    element = shape.member
    if _is_scalar(element):
        # AWS reports a list of scalars once, at the list, naming every
        # constraint of the element shape rather than the one that failed.
        failed = False
        for item in value:
            if item is None:
                failed = True
                continue
            _check_type(element.type_name, item)
            failed = failed or bool(_failed_scalar_constraints(element, item))
        if failed:
            yield _violation(
                shape, value, path, _bracketed("Member must satisfy constraint", element)
            )
        return
    for index, item in enumerate(value, start=1):
        item_path = f"{path}.{index}.member"
        if item is None:
            yield _violation(element, None, item_path, "Member must not be null")
        else:
            yield from _check(element, item, item_path)


def _check_map(shape: MapShape, value: dict, path: str) -> Iterator[str]:
    for constraint in _failed_length_constraints(shape, len(value)):
        yield _violation(shape, value, path, constraint)
    key_shape, value_shape = shape.key, shape.value
    # JSON object keys are always strings, so only constraints can fail.
    if any(_failed_scalar_constraints(key_shape, key) for key in value):
        yield _violation(
            shape, value, path, _bracketed("Map keys must satisfy constraint", key_shape)
        )
    if _is_scalar(value_shape):
        failed = False
        for item in value.values():
            if item is None:
                failed = True
                continue
            _check_type(value_shape.type_name, item)
            failed = failed or bool(_failed_scalar_constraints(value_shape, item))
        if failed:
            yield _violation(
                shape, value, path, _bracketed("Map value must satisfy constraint", value_shape)
            )
        return
    for key, item in value.items():
        item_path = f"{path}.{key}.member"
        if item is None:
            yield _violation(value_shape, None, item_path, "Member must not be null")
        else:
            yield from _check(value_shape, item, item_path)


# --------------------------------------------------------------------------- types


def _check_type(kind: str, value: Any) -> None:
    """Raise ``SerializationException`` unless ``value``'s JSON type fits ``kind``.

    Messages are those AWS's Jackson-based deserializer produces.
    """
    if kind in ("structure", "list", "map"):
        _check_container_type(kind, value)
    else:
        _check_scalar_type(kind, value)


def _check_container_type(kind: str, value: Any) -> None:
    if kind == "list":
        if not isinstance(value, list):
            raise SerializationException(
                "Start of structure or map found where not expected."
                if isinstance(value, dict)
                else "Expected list or null"
            )
    elif not isinstance(value, dict):  # a structure or a map
        if isinstance(value, list):
            raise SerializationException("Start of list found where not expected")
        raise SerializationException(
            "Expected null" if kind == "structure" else "Expected map or null"
        )


def _check_scalar_type(kind: str, value: Any) -> None:
    if isinstance(value, list):
        raise SerializationException("Start of list found where not expected")
    if isinstance(value, dict):
        raise SerializationException("Start of structure or map found where not expected.")
    if _scalar_fits(kind, value):
        return
    if kind == "blob" and isinstance(value, str):
        raise SerializationException(
            f"'{value}' can not be converted to a Blob: Invalid Base64 encoding"
        )
    raise SerializationException(
        f"{_json_token(value)} can not be converted to {_JAVA_TYPE.get(kind, 'a ' + kind)}"
    )


def _scalar_fits(kind: str, value: Any) -> bool:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in _INT_BOUNDS:
        # Only whole numbers in the Java type's range: AWS would silently
        # truncate 1.5, but handlers should never see a fractional "integer".
        if not is_number or (isinstance(value, float) and not value.is_integer()):
            return False
        low, high = _INT_BOUNDS[kind]
        return low <= value <= high
    if kind in ("float", "double", "timestamp"):
        # JSON 1.1 timestamps are epoch seconds, a plain JSON number.
        if not is_number:
            return False
        try:
            return math.isfinite(float(value))
        except OverflowError:  # an integer literal beyond any double
            return False
    if kind == "blob":
        if not isinstance(value, str):
            return False
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return True
    return True  # a type this module does not know: leave it to the handler


def _json_token(value: Any) -> str:
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    return "NUMBER_VALUE"


def _is_scalar(shape: Shape) -> bool:
    return shape.type_name not in ("structure", "list", "map") and not shape.metadata.get(
        "document"
    )


# --------------------------------------------------------------------------- constraints


def _failed_scalar_constraints(shape: Shape, value: Any) -> list[str]:
    """Constraint messages ``value`` (already type-checked) fails, in AWS wording."""
    kind = shape.type_name
    meta = shape.metadata
    failed: list[str] = []
    if kind == "string":
        pattern = meta.get("pattern")
        if pattern is not None and not _pattern_matches(pattern, value):
            failed.append(f"Member must satisfy regular expression pattern: {pattern}")
        failed.extend(_failed_length_constraints(shape, len(value)))
        enum = shape.enum  # type: ignore[attr-defined]
        if enum and value not in enum:
            failed.append(_enum_message(enum))
    elif kind == "blob":
        failed.extend(_failed_length_constraints(shape, len(base64.b64decode(value))))
    elif kind in ("integer", "long", "float", "double"):
        low, high = meta.get("min"), meta.get("max")
        if low is not None and value < low:
            failed.append(f"Member must have value greater than or equal to {_number(kind, low)}")
        if high is not None and value > high:
            failed.append(f"Member must have value less than or equal to {_number(kind, high)}")
    return failed


def _failed_length_constraints(shape: Shape, length: int) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    failed = []
    if low is not None and length < low:
        failed.append(f"Member must have length greater than or equal to {low}")
    if high is not None and length > high:
        failed.append(f"Member must have length less than or equal to {high}")
    return failed


def _all_constraints(shape: Shape) -> list[str]:
    """Every constraint of a scalar shape, in the order AWS lists them."""
    kind, meta = shape.type_name, shape.metadata
    low, high = meta.get("min"), meta.get("max")
    out: list[str] = []
    if kind in ("integer", "long", "float", "double"):
        if high is not None:
            out.append(f"Member must have value less than or equal to {_number(kind, high)}")
        if low is not None:
            out.append(f"Member must have value greater than or equal to {_number(kind, low)}")
        return out
    if high is not None:
        out.append(f"Member must have length less than or equal to {high}")
    if low is not None:
        out.append(f"Member must have length greater than or equal to {low}")
    if meta.get("pattern") is not None:
        out.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    enum = getattr(shape, "enum", None)
    if enum:
        out.append(_enum_message(enum))
    return out


def _bracketed(prefix: str, shape: Shape) -> str:
    return f"{prefix}: [{', '.join(_all_constraints(shape) or ['Member must not be null'])}]"


def _enum_message(enum: list[str]) -> str:
    return f"Member must satisfy enum value set: [{', '.join(enum)}]"


# --------------------------------------------------------------------------- messages


def _violation(shape: Shape, value: Any, path: str, constraint: str) -> str:
    if value is None:
        shown = "Value null"
    elif _is_sensitive(shape):
        # AWS never echoes a sensitive value, not even in an error.
        shown = "Value"
    else:
        shown = f"Value '{_java_str(shape, value)}'"
    return f"{shown} at '{path}' failed to satisfy constraint: {constraint}"


def _is_sensitive(shape: Shape) -> bool:
    if shape.metadata.get("sensitive"):
        return True
    if isinstance(shape, ListShape):
        return _is_sensitive(shape.member)
    if isinstance(shape, MapShape):
        return _is_sensitive(shape.key) or _is_sensitive(shape.value)
    return False


def _java_str(shape: Shape | None, value: Any) -> str:
    """Render ``value`` as Java's ``toString`` would, which AWS echoes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        kind = (
            shape.type_name
            if shape is not None
            else ("double" if isinstance(value, float) else "long")
        )
        return _number(kind, value)
    if isinstance(value, list):
        element = shape.member if isinstance(shape, ListShape) else None
        return "[" + ", ".join(_java_str(element, item) for item in value) + "]"
    if isinstance(value, dict):
        if isinstance(shape, MapShape):
            return (
                "{" + ", ".join(f"{k}={_java_str(shape.value, v)}" for k, v in value.items()) + "}"
            )
        members = shape.members if isinstance(shape, StructureShape) else {}
        return (
            "{" + ", ".join(f"{k}={_java_str(members.get(k), v)}" for k, v in value.items()) + "}"
        )
    return str(value)


def _number(kind: str, value: float | int) -> str:
    """Format a number like Java: ``5`` for integral types, ``5.0``/``1.0E7`` for floats."""
    if kind in ("float", "double"):
        return _java_double(float(value))
    return str(int(value))


def _java_double(value: float) -> str:
    """``Double.toString``: plain between 1e-3 and 1e7, else ``d.dddE±n``."""
    if value == 0 or (1e-3 <= abs(value) < 1e7):
        text = repr(value)
        return text if "e" not in text else format(decimal.Decimal(text), "f")
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    power = len(mantissa) - 1 + exponent
    fraction = mantissa[1:] or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{fraction}E{power}"


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


# Models' ``pattern`` constraints are Java regexes (:mod:`services.api.java_regex`).


def _pattern_matches(pattern: str, value: str) -> bool:
    compiled = _compile_pattern(pattern)
    # Models are written for Java's Matcher.matches(), which anchors at both
    # ends; a pattern we cannot translate is not enforced rather than
    # rejecting requests AWS would accept.
    return compiled is None or compiled.fullmatch(value) is not None


@functools.cache
def _compile_pattern(pattern: str) -> regex.Pattern[str] | None:
    try:
        return compile_java(pattern)
    except (regex.error, ValueError) as exc:
        logger.warning("pattern %r is not enforced: cannot translate it (%s)", pattern, exc)
        return None
