"""What an EventBridge rule's target receives: the event, or ``Input``, ``InputPath`` or ``InputTransformer`` of it.

As EventBridge builds a target's input:

* no setting: the whole event;
* ``Input``: that JSON text, as it is;
* ``InputPath``: the part of the event a JSONPath names (``$``, ``$.detail``,
  ``$.detail.items[0]``, ``$['detail-type']``);
* ``InputTransformer``: ``InputPathsMap`` names parts of the event, and
  ``<name>`` in ``InputTemplate`` is replaced by that part: as JSON outside a
  JSON string, as bare text inside one (``"key is <key>"``). The predefined
  ``<aws.events.rule-arn>``, ``<aws.events.rule-name>``,
  ``<aws.events.event.ingestion-time>`` and ``<aws.events.event>`` /
  ``<aws.events.event.json>`` (the whole event) can be used too. A path that
  names nothing gives ``null`` (an empty text inside a string). A template
  that is not JSON once filled in (``<key> arrived``) is filled with bare
  text and passed as a JSON string, the payload a function is given being
  JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MISSING = object()
_STEP = re.compile(r"""\.([^.\[\]]+)|\[(\d+)\]|\[['"]([^'"]+)['"]\]""")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


class TargetInputError(ValueError):
    """A target's input settings cannot be applied (a bad path, a template that is not usable)."""


def resolve_path(event: Any, path: str) -> Any:
    """The value ``path`` (a simple JSONPath) names in ``event``; ``_MISSING`` when none."""
    if not path.startswith("$"):
        raise TargetInputError(f"{path!r} is not a JSONPath (it must start with '$')")
    rest, node = path[1:], event
    while rest:
        m = _STEP.match(rest)
        if m is None:
            raise TargetInputError(f"{path!r} is not a JSONPath EventBridge takes")
        key, index, quoted = m.groups()
        if index is not None:
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else _MISSING
        else:
            name = key if key is not None else quoted
            node = node.get(name, _MISSING) if isinstance(node, dict) else _MISSING
        if node is _MISSING:
            return _MISSING
        rest = rest[m.end():]
    return node


def target_input(target: dict[str, Any], event: dict[str, Any], *, rule_arn: str, rule_name: str,
                 ingestion_time: str = "") -> str:
    """The JSON text ``target`` (a ``PutTargets`` target) receives for ``event``."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        value = resolve_path(event, target["InputPath"])
        return json.dumps(None if value is _MISSING else value)
    transformer = target.get("InputTransformer")
    if not transformer:
        return json.dumps(event)
    values: dict[str, Any] = {
        "aws.events.rule-arn": rule_arn, "aws.events.rule-name": rule_name,
        "aws.events.event.ingestion-time": ingestion_time or event.get("time", ""),
        "aws.events.event": event, "aws.events.event.json": event,
    }
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        values[name] = resolve_path(event, path)
    text = _fill(transformer["InputTemplate"], values)
    try:
        json.loads(text)
    except ValueError:
        # A text template: values go in as bare text, and the function is given the result as a JSON string.
        return json.dumps(_fill(transformer["InputTemplate"], values, text=True))
    return text


def _fill(template: str, values: dict[str, Any], *, text: bool = False) -> str:
    """``template`` with each known ``<name>`` replaced, as JSON outside strings and as text inside them
    (``text``: bare text everywhere)."""
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        c = template[i]
        if c == "<" and (m := _PLACEHOLDER.match(template, i)) and m[1] in values:
            value = values[m[1]]
            if text:
                out.append("" if value is _MISSING else value if isinstance(value, str) else json.dumps(value))
            else:
                out.append(_render(value, in_string))
            i = m.end()
            continue
        if c == "\\" and in_string and i + 1 < len(template):
            out.append(template[i:i + 2])
            i += 2
            continue
        if c == '"':
            in_string = not in_string
        out.append(c)
        i += 1
    return "".join(out)


def _render(value: Any, in_string: bool) -> str:
    if value is _MISSING:
        return "" if in_string else "null"
    if in_string:
        text = value if isinstance(value, str) else json.dumps(value)
        return json.dumps(text)[1:-1]  # escaped, so the string stays valid JSON
    return json.dumps(value)
