"""A pipeline definition (version 2020-12-01, as the SageMaker Python SDK emits it), parsed and checked.

Checked when a pipeline is created or updated, so a bad definition is a
``ValidationException`` naming the step and the path, never a failure
halfway through an execution: unknown or unsupported step types, duplicate
names, ``DependsOn`` naming no step, a cycle, a ``Get`` on a parameter the
pipeline does not declare, on an unknown execution variable, or on a
property the step's Describe* shape does not have, and parameters whose
defaults do not fit their type.

Steps inside a Condition step's ``IfSteps`` / ``ElseSteps`` are steps of the
pipeline like the others; they run only when their branch is taken. A step
waits for every step it names in ``DependsOn`` and every step whose
properties it reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from services.core.exceptions import ValidationException
from services.pipelines.callouts import CALLOUT_TYPES, declared_outputs
from services.pipelines.expressions import CONDITION_TYPES, EXECUTION_VARIABLES, is_get, references
from services.pipelines.properties import PLAIN_PROPERTIES, PROPERTY_OPERATIONS, Key, PathError, check_path, parse_path
from services.pipelines.retries import check_policies

VERSION = "2020-12-01"
#: The step types Headwater runs.
RUNNABLE = frozenset({*PROPERTY_OPERATIONS, *PLAIN_PROPERTIES})
#: Step types of the language that Headwater does not run yet (see the README's list).
NOT_YET = frozenset({"QualityCheck"})
#: Step types that need a service Headwater does not have.
NEVER = frozenset({"EMR", "EMRServerless", "ClarifyCheck", "AutoML", "Notebook", "Athena",
                   "BedrockCustomModel", "BedrockCustomModelDeployment", "BedrockProvisionedModelThroughput",
                   "BedrockModelImport", "InferenceComponent", "Lineage", "Cleanup", "ForEach", "Job"})
PARAMETER_TYPES = frozenset({"String", "Integer", "Float", "Boolean"})


@dataclass(frozen=True)
class ParameterDef:
    """A declared parameter."""

    name: str
    type: str
    default: Any = None
    enum_values: tuple[str, ...] | None = None

    def parse(self, text: str) -> Any:
        """An override (always text on the wire) as this parameter's type; ``ValidationException`` otherwise."""
        value: Any
        try:
            if self.type == "Integer":
                value = int(text)
            elif self.type == "Float":
                value = float(text)
            elif self.type == "Boolean":
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                value = text.lower() == "true"
            else:
                value = text
        except ValueError as err:
            raise ValidationException(f"Parameter {self.name} of type {self.type} cannot take the value "
                                      f"{text!r}") from err
        if self.enum_values is not None and str(value) not in self.enum_values:
            raise ValidationException(f"Parameter {self.name} must be one of {list(self.enum_values)}, not {text!r}")
        return value


@dataclass
class StepDef:
    """A step, wherever it is nested."""

    name: str
    type: str
    arguments: Any
    raw: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)
    branch: tuple[str, bool] | None = None  # (condition step, True for IfSteps)
    upstream: set[str] = field(default_factory=set)

    @property
    def property_files(self) -> dict[str, dict[str, Any]]:
        """``PropertyFiles`` by name."""
        return {f["PropertyFileName"]: f for f in self.raw.get("PropertyFiles") or []}

    @property
    def cache_config(self) -> dict[str, Any] | None:
        """``CacheConfig`` when caching is enabled."""
        config = self.raw.get("CacheConfig") or {}
        return config if config.get("Enabled") else None

    @property
    def retry_policies(self) -> list[dict[str, Any]]:
        """``RetryPolicies``, checked at create time."""
        return list(self.raw.get("RetryPolicies") or [])


@dataclass
class Definition:
    """A checked definition."""

    parameters: dict[str, ParameterDef]
    steps: dict[str, StepDef]  # in definition order, nested steps after their Condition step
    raw: dict[str, Any]

    def typed_parameters(self, overrides: list[dict[str, str]]) -> dict[str, Any]:
        """Every parameter's value: its override, parsed, else its default; ``ValidationException`` for an
        unknown name, a value of the wrong type, or a parameter with neither."""
        given = {p["Name"]: p["Value"] for p in overrides}
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise ValidationException(f"Parameters {unknown} are not parameters of the pipeline (it has "
                                      f"{sorted(self.parameters)})")
        values: dict[str, Any] = {}
        for name, param in self.parameters.items():
            if name in given:
                values[name] = param.parse(given[name])
            elif param.default is not None:
                values[name] = param.default
            else:
                raise ValidationException(f"Parameter {name} has no default value and was not given one")
        return values


def parse_definition(text: str) -> Definition:
    """Parse and check a definition; ``ValidationException`` naming what is wrong."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValidationException(f"The pipeline definition is not valid JSON: {err.msg} at line {err.lineno} "
                                  f"column {err.colno}") from err
    if not isinstance(raw, dict):
        raise ValidationException("The pipeline definition must be a JSON object")
    if raw.get("Version") != VERSION:
        raise ValidationException(f"Pipeline definition Version must be {VERSION!r}, not {raw.get('Version')!r}")
    parameters = _parameters(raw.get("Parameters") or [])
    steps: dict[str, StepDef] = {}
    if not isinstance(raw.get("Steps"), list) or not raw["Steps"]:
        raise ValidationException("The pipeline definition has no Steps")
    _collect(raw["Steps"], None, steps)
    for step in steps.values():
        _check_step(step, steps, parameters)
    _check_acyclic(steps)
    for path in references(raw.get("PipelineExperimentConfig")):
        _check_get(path, "PipelineExperimentConfig", steps, parameters, None)
    return Definition(parameters=parameters, steps=steps, raw=raw)


def _parameters(items: Any) -> dict[str, ParameterDef]:
    if not isinstance(items, list):
        raise ValidationException("Parameters must be a list")
    out: dict[str, ParameterDef] = {}
    for item in items:
        name, kind = item.get("Name"), item.get("Type")
        if not isinstance(name, str) or not name:
            raise ValidationException(f"A parameter has no Name: {item}")
        if name in out:
            raise ValidationException(f"Parameter {name} is declared twice")
        if kind not in PARAMETER_TYPES:
            raise ValidationException(f"Parameter {name} has Type {kind!r}; the types are {sorted(PARAMETER_TYPES)}")
        default = item.get("DefaultValue")
        enum = item.get("EnumValues")
        if default is not None and not _fits(kind, default):
            raise ValidationException(f"Parameter {name} of type {kind} has a DefaultValue of another type: "
                                      f"{default!r}")
        out[name] = ParameterDef(name, kind, default, tuple(str(v) for v in enum) if enum else None)
    return out


def _fits(kind: str, value: Any) -> bool:
    if kind == "String":
        return isinstance(value, str)
    if kind == "Boolean":
        return isinstance(value, bool)
    if kind == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _collect(items: Any, branch: tuple[str, bool] | None, steps: dict[str, StepDef]) -> None:
    if not isinstance(items, list):
        raise ValidationException("Steps must be a list")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise ValidationException(f"A step has no Name: {str(item)[:200]}")
        name, kind = item["Name"], item.get("Type")
        if name in steps:
            raise ValidationException(f"Step names must be unique: {name} appears twice")
        if kind in NEVER:
            raise ValidationException(f"Step {name}: step type {kind} is not supported by Headwater")
        if kind in NOT_YET:
            raise ValidationException(f"Step {name}: step type {kind} is not run by Headwater yet")
        if kind not in RUNNABLE:
            raise ValidationException(f"Step {name}: unknown step type {kind!r}")
        depends_on = item.get("DependsOn") or []
        if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
            raise ValidationException(f"Step {name}: DependsOn must be a list of step names")
        steps[name] = StepDef(name=name, type=kind, arguments=item.get("Arguments", {}), raw=item,
                              depends_on=list(depends_on), branch=branch)
        if kind == "Condition":
            args = item.get("Arguments") or {}
            _collect(args.get("IfSteps") or [], (name, True), steps)
            _collect(args.get("ElseSteps") or [], (name, False), steps)


def _check_step(step: StepDef, steps: dict[str, StepDef], parameters: dict[str, ParameterDef]) -> None:
    check_policies(step.name, step.raw.get("RetryPolicies"))
    for dep in step.depends_on:
        if dep not in steps:
            raise ValidationException(f"Step {step.name}: DependsOn names {dep}, which is not a step of the pipeline")
        step.upstream.add(dep)
    if step.branch is not None:
        step.upstream.add(step.branch[0])
    if step.type == "Condition":
        conditions = (step.arguments or {}).get("Conditions")
        if not isinstance(conditions, list) or not conditions:
            raise ValidationException(f"Step {step.name}: a Condition step needs Conditions")
        for condition in conditions:
            _check_condition(step.name, condition)
        scanned: Any = conditions
    else:
        scanned = step.arguments
    if step.type == "Fail":
        scanned = {"ErrorMessage": (step.arguments or {}).get("ErrorMessage")}
    for path in references(scanned):
        referenced = _check_get(path, f"Step {step.name}", steps, parameters, step)
        if referenced is not None:
            step.upstream.add(referenced)
    if step.property_files and step.type != "Processing":
        raise ValidationException(f"Step {step.name}: only Processing steps declare PropertyFiles")
    outputs = {o.get("OutputName") for o in ((step.arguments or {}).get("ProcessingOutputConfig") or {}).get(
        "Outputs", [])} if step.type == "Processing" else set()
    for name, spec in step.property_files.items():
        if spec.get("OutputName") not in outputs:
            raise ValidationException(f"Step {step.name}: property file {name} names output "
                                      f"{spec.get('OutputName')!r}, which the step does not have")


def _check_condition(step: str, condition: Any) -> None:
    if not isinstance(condition, dict) or condition.get("Type") not in CONDITION_TYPES:
        kind = condition.get("Type") if isinstance(condition, dict) else condition
        raise ValidationException(f"Step {step}: unknown condition type {kind!r}; the types are "
                                  f"{sorted(CONDITION_TYPES)}")
    kind = condition["Type"]
    if kind == "Not":
        _check_condition(step, condition.get("Condition"))
    elif kind == "Or":
        for inner in condition.get("Conditions") or []:
            _check_condition(step, inner)
    elif kind == "In":
        if "QueryValue" not in condition or not isinstance(condition.get("Values"), list):
            raise ValidationException(f"Step {step}: an In condition needs QueryValue and Values")
    elif "LeftValue" not in condition or "RightValue" not in condition:
        raise ValidationException(f"Step {step}: a {kind} condition needs LeftValue and RightValue")


def _check_get(path: str, where: str, steps: dict[str, StepDef], parameters: dict[str, ParameterDef],
               step: StepDef | None) -> str | None:
    """Check one ``Get``; return the step it reads, if any."""
    head, _, rest = path.partition(".")
    if head == "Parameters":
        if rest not in parameters:
            raise ValidationException(f"{where}: {{'Get': {path!r}}} names no parameter of the pipeline "
                                      f"(it has {sorted(parameters)})")
        return None
    if head == "Execution":
        if rest not in EXECUTION_VARIABLES:
            raise ValidationException(f"{where}: {{'Get': {path!r}}} names no execution variable (they are "
                                      f"{sorted(EXECUTION_VARIABLES)})")
        return None
    if head != "Steps":
        raise ValidationException(f"{where}: {{'Get': {path!r}}} reads neither Parameters, Execution nor Steps")
    name, _, prop = rest.partition(".")
    target = steps.get(name)
    if target is None:
        raise ValidationException(f"{where}: {{'Get': {path!r}}} names step {name}, which is not a step of the "
                                  f"pipeline")
    if step is not None and target.name == step.name:
        raise ValidationException(f"{where}: {{'Get': {path!r}}} reads the step's own properties")
    if prop.startswith("PropertyFiles."):
        file = prop.removeprefix("PropertyFiles.")
        if file not in target.property_files:
            raise ValidationException(f"{where}: {{'Get': {path!r}}}: step {name} declares no property file "
                                      f"{file}")
        return name
    if target.type in CALLOUT_TYPES:
        outputs = declared_outputs(target.raw)
        parts = parse_path(prop) if prop else []
        if len(parts) != 2 or parts[0] != "OutputParameters" or not isinstance(parts[1], Key) or \
                parts[1].value not in outputs:
            raise ValidationException(f"{where}: {{'Get': {path!r}}}: a {target.type} step's properties are "
                                      f"OutputParameters['<name>'] of its outputs {sorted(outputs)}")
        return name
    try:
        check_path(target.type, prop)
    except PathError as err:
        raise ValidationException(f"{where}: {{'Get': {path!r}}}: {err}") from err
    return name


def _check_acyclic(steps: dict[str, StepDef]) -> None:
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + [name]
            raise ValidationException(f"The pipeline's steps form a cycle: {' waits for '.join(cycle)}")
        state[name] = 1
        for up in sorted(steps[name].upstream):
            visit(up, [*path, name])
        state[name] = 2

    for name in steps:
        visit(name, [])


__all__ = ["Definition", "ParameterDef", "StepDef", "parse_definition", "is_get", "VERSION"]
