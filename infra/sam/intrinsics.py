"""CloudFormation's intrinsic functions and conditions over a template's parameters and resources.

``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If`` and the
condition functions (``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Condition``); pseudo parameters
``AWS::Region``, ``AWS::AccountId``, ``AWS::StackName``, ``AWS::Partition``, ``AWS::URLSuffix`` and
``AWS::NoValue`` (which removes the property it is in). Anything else is a :class:`TemplateError` naming
where it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any


class TemplateError(ValueError):
    """The template asks for something Headwater does not deploy, or is not a valid template."""


class _NoValue:
    """``AWS::NoValue``: the property holding it is left out."""


NO_VALUE = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")

#: ``(logical id) -> Ref value`` and ``(logical id, attribute) -> GetAtt value``.
RefLookup = Callable[[str, str], Any]
AttLookup = Callable[[str, str, str], Any]


class Intrinsics:
    """Resolves a template value: ``refs`` are the parameters' and pseudo parameters' values; ``resource_ref``
    and ``resource_att`` answer for the template's resources; ``conditions`` are evaluated on first use."""

    def __init__(self, refs: Mapping[str, Any], resource_ref: RefLookup, resource_att: AttLookup,
                 conditions: Mapping[str, Any]) -> None:
        self.refs = refs
        self.resource_ref = resource_ref
        self.resource_att = resource_att
        self.condition_defs = conditions
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str, where: str) -> bool:
        """The value of the template's condition ``name``."""
        if name not in self._conditions:
            if name not in self.condition_defs:
                raise TemplateError(f"{where}: condition {name!r} is not declared in Conditions")
            self._conditions[name] = bool(self._test(self.condition_defs[name], f"Conditions.{name}"))
        return self._conditions[name]

    def _test(self, value: Any, where: str) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Condition":
                return self.condition(arg, where)
            if fn == "Fn::Equals":
                a, b = (self.resolve(v, where) for v in _args(arg, 2, fn, where))
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not self._test(_args(arg, 1, fn, where)[0], where)
            if fn == "Fn::And":
                return all(self._test(v, where) for v in arg)
            if fn == "Fn::Or":
                return any(self._test(v, where) for v in arg)
        return self.resolve(value, where)

    def resolve(self, value: Any, where: str) -> Any:
        """``value`` with every intrinsic function replaced by its value."""
        if isinstance(value, list):
            items = [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg, where)
            if key.startswith("Fn::") or key == "Condition":
                return self._function(key, arg, where)
        out = {}
        for key, item in value.items():
            resolved = self.resolve(item, f"{where}.{key}")
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def ref(self, name: Any, where: str) -> Any:
        """``Ref name``."""
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref takes a name, not {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.refs:
            return self.refs[name]
        return self.resource_ref(name, where)

    def _function(self, fn: str, arg: Any, where: str) -> Any:
        if fn == "Fn::GetAtt":
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            resource, attribute = _args(arg, 2, fn, where)
            return self.resource_att(resource, self.resolve(attribute, where), where)
        if fn == "Fn::Sub":
            return self._sub(arg, where)
        if fn == "Fn::Join":
            sep, items = _args(arg, 2, fn, where)
            values = self.resolve(items, where)
            if not isinstance(values, list):
                raise TemplateError(f"{where}: Fn::Join takes a list to join")
            return str(sep).join(_text(v, where) for v in values)
        if fn == "Fn::Select":
            index, items = _args(arg, 2, fn, where)
            values = self.resolve(items, where)
            try:
                return values[int(self.resolve(index, where))]
            except (IndexError, ValueError, TypeError) as err:
                raise TemplateError(f"{where}: Fn::Select index {index!r} is not in {values!r}") from err
        if fn == "Fn::Split":
            sep, text = _args(arg, 2, fn, where)
            return _text(self.resolve(text, where), where).split(str(sep))
        if fn == "Fn::If":
            name, yes, no = _args(arg, 3, fn, where)
            return self.resolve(yes if self.condition(name, where) else no, where)
        if fn in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
            return self._test({fn: arg}, where)
        raise TemplateError(f"{where}: {fn} is not supported (Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, "
                            f"Fn::Split, Fn::If and the condition functions are)")

    def _sub(self, arg: Any, where: str) -> str:
        if isinstance(arg, list):
            text, variables = _args(arg, 2, "Fn::Sub", where)
            variables = self.resolve(variables, where)
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise TemplateError(f"{where}: Fn::Sub takes a string")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the text ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return _text(variables[name], where)
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return _text(self.resource_att(resource, attribute, where), where)
            return _text(self.ref(name, where), where)

        return _SUB_VARIABLE.sub(replace, text)


def _args(arg: Any, n: int, fn: str, where: str) -> list[Any]:
    if not isinstance(arg, list) or len(arg) != n:
        raise TemplateError(f"{where}: {fn} takes a list of {n}, not {arg!r}")
    return arg


def _text(value: Any, where: str) -> str:
    if isinstance(value, (dict, list)) or value is NO_VALUE:
        raise TemplateError(f"{where}: {value!r} is not a string")
    return str(value)
