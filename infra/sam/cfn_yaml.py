"""Reading CloudFormation / SAM templates: YAML with CloudFormation's short-form tags, or JSON.

``!Ref X`` becomes ``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``, and every other
``!Name`` becomes ``{"Fn::Name": value}``, the long form the resolver reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

#: The short-form tags CloudFormation defines (``!Condition`` is the one that is not ``Fn::``).
SHORT_FORMS = ("Ref", "Condition", "GetAtt", "Sub", "Join", "If", "Equals", "Not", "And", "Or", "Select",
               "Split", "FindInMap", "Base64", "GetAZs", "ImportValue", "Cidr", "Transform", "ToJsonString",
               "Length")


class TemplateSyntaxError(ValueError):
    """The template is neither YAML nor JSON that CloudFormation would read."""


class _Loader(yaml.SafeLoader):
    """A safe loader that also reads CloudFormation's tags (and keeps timestamps as strings, as CloudFormation
    does: ``Version: 2012-10-17`` is a string there)."""


def _construct(tag: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if tag == "Ref":
            return {"Ref": value}
        if tag == "Condition":
            return {"Condition": value}
        if tag == "GetAtt" and isinstance(value, str):
            resource, _, attribute = value.partition(".")
            return {"Fn::GetAtt": [resource, attribute]}
        return {f"Fn::{tag}": value}
    return construct


for _tag in SHORT_FORMS:
    _Loader.add_constructor(f"!{_tag}", _construct(_tag))
# CloudFormation reads dates as strings; PyYAML would make them datetime.date.
_Loader.yaml_implicit_resolvers = {k: [(t, r) for t, r in v if t != "tag:yaml.org,2002:timestamp"]
                                   for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def loads(text: str) -> dict[str, Any]:
    """The template in ``text`` (YAML, or JSON, which is YAML too) as plain dicts in long form."""
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise TemplateSyntaxError(f"not a YAML or JSON template: {err}") from err
    if not isinstance(doc, dict):
        raise TemplateSyntaxError("a template is a mapping with a Resources section")
    return doc


def load(path: Path) -> dict[str, Any]:
    """The template at ``path``."""
    return loads(path.read_text())


def dumps(doc: Any) -> str:
    """Canonical JSON of ``doc`` (sorted keys), what fingerprints are taken of."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
