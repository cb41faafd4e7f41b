"""Reading a SAM template into the resources to deploy (:class:`infra.sam.resources.Stack`).

Parameters (defaults, overrides, ``AllowedValues``), ``Conditions``, ``Globals.Function``, the intrinsics of
:mod:`infra.sam.intrinsics`, physical names as CloudFormation derives them, and each function's ``Events``
turned into the rules, event source mappings and bucket notifications SAM would make. Everything it does not
serve is refused here, naming the logical id and the property, before anything is created.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.sam.intrinsics import Intrinsics, TemplateError
from infra.sam.names import physical_name
from infra.sam.resources import (
    BUCKET,
    FUNCTION,
    QUEUE,
    BucketSpec,
    FunctionSpec,
    MappingSpec,
    NotificationsSpec,
    QueueSpec,
    RuleSpec,
    Stack,
)

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
PYTHON_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13")

_FUNCTION_PROPERTIES = {"CodeUri", "Handler", "Runtime", "Timeout", "MemorySize", "Environment", "Policies",
                        "Description", "Tags", "Events", "FunctionName", "Role", "DeadLetterQueue",
                        "Architectures"}
_GLOBAL_PROPERTIES = _FUNCTION_PROPERTIES - {"Events", "FunctionName"}
_BUCKET_PROPERTIES = {"BucketName", "NotificationConfiguration", "Tags"}
_QUEUE_PROPERTIES = {"QueueName", "VisibilityTimeout", "RedrivePolicy", "MessageRetentionPeriod", "DelaySeconds",
                     "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize", "Tags"}
_QUEUE_ATTRIBUTES = _QUEUE_PROPERTIES - {"QueueName", "Tags"}
_EVENT_PROPERTIES = {
    "S3": {"Bucket", "Events", "Filter"},
    "SQS": {"Queue", "BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "Enabled"},
    "EventBridgeRule": {"Pattern", "EventBusName", "Input", "InputPath", "InputTransformer", "RetryPolicy",
                        "DeadLetterConfig", "RuleName", "State", "Target"},
    "Schedule": {"Schedule", "Input", "Enabled", "State", "Name", "Description", "RetryPolicy",
                 "DeadLetterConfig"},
}
_RESOURCE_KEYS = {"Type", "Properties", "Condition", "DependsOn", "Metadata", "DeletionPolicy",
                  "UpdateReplacePolicy"}


@dataclass
class StackContext:
    """Where the stack is deployed: the names and ARNs it makes depend on these."""

    stack_name: str
    region: str = "us-east-1"
    account_id: str = "123456789012"
    #: An SQS queue's URL from its name (``Ref`` and ``QueueUrl`` of a queue).
    queue_url: Callable[[str], str] | None = None
    #: The role a function gets when its template names none (SAM would make one).
    default_role: str | None = None


def read_template(doc: Mapping[str, Any], context: StackContext, base_dir: Path,
                  overrides: Mapping[str, str] | None = None) -> Stack:
    """The stack ``doc`` declares, deployed as ``context`` says; ``CodeUri`` is relative to ``base_dir``."""
    return _Reader(doc, context, base_dir, dict(overrides or {})).read()


class _Reader:
    def __init__(self, doc: Mapping[str, Any], context: StackContext, base_dir: Path,
                 overrides: dict[str, str]) -> None:
        self.doc = doc
        self.ctx = context
        self.base_dir = base_dir
        self.resources: dict[str, dict[str, Any]] = doc.get("Resources") or {}
        if not isinstance(self.resources, dict) or not self.resources:
            raise TemplateError("the template has no Resources")
        self.parameters = self._parameters(doc.get("Parameters") or {}, overrides)
        refs = {"AWS::Region": context.region, "AWS::AccountId": context.account_id,
                "AWS::StackName": context.stack_name, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackId": f"arn:aws:cloudformation:{context.region}:{context.account_id}:stack/"
                                f"{context.stack_name}/headwater", **self.parameters}
        self.fn = Intrinsics(refs, self._resource_ref, self._resource_att, doc.get("Conditions") or {})
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()

    # ------------------------------------------------------------------ parameters, names, references

    def _parameters(self, declared: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"--parameter-overrides: {', '.join(unknown)} not declared in Parameters")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            spec = spec or {}
            value = overrides.get(name, spec.get("Default"))
            if value is None:
                raise TemplateError(f"Parameters.{name}: no Default and no override (--parameter-overrides "
                                    f"{name}=VALUE)")
            value = str(value) if not isinstance(value, list) else ",".join(map(str, value))
            allowed = spec.get("AllowedValues")
            if allowed is not None and value not in [str(a) for a in allowed]:
                raise TemplateError(f"Parameters.{name}: {value!r} is not one of its AllowedValues {allowed}")
            kind = spec.get("Type", "String")
            if kind == "Number":
                try:
                    float(value)
                except ValueError as err:
                    raise TemplateError(f"Parameters.{name}: {value!r} is not a Number") from err
            values[name] = value.split(",") if kind in ("CommaDelimitedList", "List<Number>") else value
        return values

    def _active(self, logical_id: str) -> bool:
        cond = self.resources[logical_id].get("Condition")
        return cond is None or self.fn.condition(cond, f"{logical_id}.Condition")

    def _type(self, logical_id: str, where: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"{where}: {logical_id!r} is neither a parameter nor a resource of the template")
        if not self._active(logical_id):
            raise TemplateError(f"{where}: {logical_id} is not created (its condition is false)")
        return str(self.resources[logical_id].get("Type"))

    def name(self, logical_id: str) -> str:
        """The physical name of resource ``logical_id``: the template's, else CloudFormation's shape."""
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._naming:
            raise TemplateError(f"{logical_id}: its name refers to itself")
        self._naming.add(logical_id)
        kind = self.resources[logical_id].get("Type")
        props = self.resources[logical_id].get("Properties") or {}
        key, limit, lower = {FUNCTION: ("FunctionName", 64, False), BUCKET: ("BucketName", 63, True),
                             QUEUE: ("QueueName", 80, False)}[kind]
        given = self.fn.resolve(props.get(key), f"{logical_id}.Properties.{key}")
        name = str(given) if given else physical_name(self.ctx.stack_name, logical_id, limit, lower)
        self._names[logical_id] = name
        return name

    def _function_arn(self, logical_id: str) -> str:
        return f"arn:aws:lambda:{self.ctx.region}:{self.ctx.account_id}:function:{self.name(logical_id)}"

    def _queue_url(self, name: str) -> str:
        if self.ctx.queue_url is not None:
            return self.ctx.queue_url(name)
        return f"https://sqs.{self.ctx.region}.amazonaws.com/{self.ctx.account_id}/{name}"

    def _resource_ref(self, logical_id: str, where: str) -> Any:
        kind = self._type(logical_id, where)
        if kind == QUEUE:
            return self._queue_url(self.name(logical_id))
        return self.name(logical_id)

    def _resource_att(self, logical_id: str, attribute: str, where: str) -> Any:
        kind = self._type(logical_id, where)
        name = self.name(logical_id)
        values: dict[str, str] = {}
        if kind == FUNCTION:
            values = {"Arn": self._function_arn(logical_id)}
        elif kind == QUEUE:
            values = {"Arn": f"arn:aws:sqs:{self.ctx.region}:{self.ctx.account_id}:{name}", "QueueName": name,
                      "QueueUrl": self._queue_url(name)}
        elif kind == BUCKET:
            values = {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                      "RegionalDomainName": f"{name}.s3.{self.ctx.region}.amazonaws.com"}
        if attribute not in values:
            raise TemplateError(f"{where}: Fn::GetAtt {logical_id}.{attribute} is not supported "
                                f"({', '.join(sorted(values)) or 'none'} for {kind})")
        return values[attribute]

    # ------------------------------------------------------------------ the template

    def read(self) -> Stack:
        transform = self.doc.get("Transform")
        transforms = transform if isinstance(transform, list) else [transform] if transform else []
        if any(t != SAM_TRANSFORM for t in transforms):
            raise TemplateError(f"Transform: only {SAM_TRANSFORM} is supported, not {transforms}")
        for section in self.doc:
            if section not in ("AWSTemplateFormatVersion", "Transform", "Description", "Metadata", "Parameters",
                               "Conditions", "Globals", "Resources", "Outputs", "Mappings"):
                raise TemplateError(f"{section}: not a section of a SAM template")
        if self.doc.get("Mappings"):
            raise TemplateError("Mappings: Fn::FindInMap is not supported")
        glob = self._globals()
        for logical_id, resource in self.resources.items():  # refuse what is not served before resolving any
            self._check(logical_id, resource, transforms)
        stack = Stack(self.ctx.stack_name, parameters=self.parameters)
        for logical_id, resource in self.resources.items():
            if not self._active(logical_id):
                continue
            kind = resource["Type"]
            if kind == QUEUE:
                stack.queues.append(self._queue(logical_id, self._props(logical_id)))
            elif kind == BUCKET:
                props = self._props(logical_id)
                stack.buckets.append(BucketSpec(logical_id, self.name(logical_id), _tags(props, logical_id)))
                config = props.get("NotificationConfiguration") or {}
                extra = sorted(set(config) - {"EventBridgeConfiguration"})
                if extra:
                    raise TemplateError(f"{logical_id}.Properties.NotificationConfiguration: {', '.join(extra)} "
                                        f"not supported (declare S3 events on the function instead)")
                eventbridge = bool((config.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled"))
                stack.notifications.append(NotificationsSpec(logical_id, self.name(logical_id), eventbridge))
        for logical_id, resource in self.resources.items():
            if resource["Type"] == FUNCTION and self._active(logical_id):
                self._function(logical_id, glob, stack)
        stack.notifications = [n for n in stack.notifications if n.eventbridge or n.lambda_configurations]
        return stack

    def _globals(self) -> dict[str, Any]:
        glob = self.doc.get("Globals") or {}
        other = sorted(set(glob) - {"Function"})
        if other:
            raise TemplateError(f"Globals: {', '.join(other)} not supported (only Globals.Function)")
        function = glob.get("Function") or {}
        extra = sorted(set(function) - _GLOBAL_PROPERTIES)
        if extra:
            raise TemplateError(f"Globals.Function: {', '.join(extra)} not supported")
        return dict(function)

    def _check(self, logical_id: str, resource: Any, transforms: list[Any]) -> None:
        if not isinstance(resource, dict) or "Type" not in resource:
            raise TemplateError(f"{logical_id}: a resource needs a Type")
        kind = resource["Type"]
        allowed = {FUNCTION: _FUNCTION_PROPERTIES, BUCKET: _BUCKET_PROPERTIES, QUEUE: _QUEUE_PROPERTIES}.get(kind)
        if allowed is None:
            raise TemplateError(f"{logical_id}: resource type {kind} is not supported (AWS::Serverless::Function, "
                                f"AWS::S3::Bucket and AWS::SQS::Queue are)")
        if kind == FUNCTION and SAM_TRANSFORM not in transforms:
            raise TemplateError(f"{logical_id}: {FUNCTION} needs 'Transform: {SAM_TRANSFORM}'")
        for key in sorted(set(resource) - _RESOURCE_KEYS):
            raise TemplateError(f"{logical_id}: {key} is not supported")
        for key in sorted(set(resource.get("Properties") or {}) - allowed):
            raise TemplateError(f"{logical_id}: property {key} is not supported for {kind}")
        if kind == FUNCTION:
            for event_id, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
                where = f"{logical_id}.Events.{event_id}"
                event_type = (event or {}).get("Type")
                if event_type not in _EVENT_PROPERTIES:
                    raise TemplateError(f"{where}: event type {event_type} is not supported "
                                        f"({', '.join(_EVENT_PROPERTIES)} are)")
                for key in sorted(set(event.get("Properties") or {}) - _EVENT_PROPERTIES[event_type]):
                    raise TemplateError(f"{where}: property {key} is not supported for {event_type} events")

    def _props(self, logical_id: str, raw: dict[str, Any] | None = None) -> dict[str, Any]:
        props = raw if raw is not None else self.resources[logical_id].get("Properties") or {}
        return self.fn.resolve(props, f"{logical_id}.Properties")

    # ------------------------------------------------------------------ resources

    def _queue(self, logical_id: str, props: dict[str, Any]) -> QueueSpec:
        attributes: dict[str, str] = {}
        for key in sorted(_QUEUE_ATTRIBUTES & set(props)):
            value = props[key]
            attributes[key] = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
        return QueueSpec(logical_id, self.name(logical_id), attributes, _tags(props, logical_id))

    def _function(self, logical_id: str, glob: dict[str, Any], stack: Stack) -> None:
        raw = _merge_globals(glob, self.resources[logical_id].get("Properties") or {})
        events = raw.pop("Events", None) or {}
        props = self._props(logical_id, raw)
        where = f"{logical_id}.Properties"
        for key in ("CodeUri", "Handler", "Runtime"):
            if not props.get(key):
                raise TemplateError(f"{where}.{key}: required (here or in Globals.Function)")
        if props["Runtime"] not in PYTHON_RUNTIMES:
            raise TemplateError(f"{where}.Runtime: {props['Runtime']} is not supported ({', '.join(PYTHON_RUNTIMES)})")
        code_uri = props["CodeUri"]
        if not isinstance(code_uri, str) or code_uri.startswith("s3://"):
            raise TemplateError(f"{where}.CodeUri: a local folder or .zip file is supported, not {code_uri!r}")
        code = (self.base_dir / code_uri).resolve()
        if not code.is_dir() and not (code.is_file() and code.suffix == ".zip"):
            raise TemplateError(f"{where}.CodeUri: {code} is not a folder or a .zip file")
        config: dict[str, Any] = {"Handler": props["Handler"], "Runtime": props["Runtime"]}
        for key in ("Timeout", "MemorySize"):
            if key in props:
                try:
                    config[key] = int(props[key])
                except (TypeError, ValueError) as err:
                    raise TemplateError(f"{where}.{key}: {props[key]!r} is not a number") from err
        if "Description" in props:
            config["Description"] = str(props["Description"])
        variables = (props.get("Environment") or {}).get("Variables") or {}
        if variables:
            config["Environment"] = {"Variables": {str(k): str(v) for k, v in variables.items()}}
        role = props.get("Role") or self.ctx.default_role
        config["Role"] = role or (f"arn:aws:iam::{self.ctx.account_id}:role/"
                                  f"{physical_name(self.ctx.stack_name, logical_id + 'Role')}")
        dlq = props.get("DeadLetterQueue")
        if dlq:
            if dlq.get("Type") != "SQS":
                raise TemplateError(f"{where}.DeadLetterQueue: Type {dlq.get('Type')} not supported (SQS is)")
            config["DeadLetterConfig"] = {"TargetArn": dlq["TargetArn"]}
        arch = props.get("Architectures")
        if arch and arch not in (["x86_64"], ["arm64"]):
            raise TemplateError(f"{where}.Architectures: {arch} is not [x86_64] or [arm64]")
        fn = FunctionSpec(logical_id, self.name(logical_id), self._function_arn(logical_id), code, config,
                          _tags(props, logical_id, sam=True), props.get("Policies"))
        stack.functions.append(fn)
        for event_id, event in events.items():
            self._event(fn, event_id, event["Type"], self._props(logical_id, event.get("Properties") or {}), stack)

    def _event(self, fn: FunctionSpec, event_id: str, kind: str, props: dict[str, Any], stack: Stack) -> None:
        where = f"{fn.logical_id}.Events.{event_id}"
        logical_id = f"{fn.logical_id}{event_id}"
        if kind == "SQS":
            if not props.get("Queue"):
                raise TemplateError(f"{where}.Queue: required (the queue's ARN: !GetAtt Queue.Arn)")
            settings = {k: props[k] for k in ("BatchSize", "MaximumBatchingWindowInSeconds",
                                              "FunctionResponseTypes", "Enabled") if k in props}
            stack.mappings.append(MappingSpec(logical_id, fn.logical_id, str(props["Queue"]), fn.name, settings))
        elif kind == "S3":
            bucket = self.resources[fn.logical_id]["Properties"]["Events"][event_id]["Properties"].get("Bucket")
            if not (isinstance(bucket, dict) and isinstance(bucket.get("Ref"), str)
                    and self.resources.get(bucket["Ref"], {}).get("Type") == BUCKET):
                raise TemplateError(f"{where}.Bucket: must be !Ref to an AWS::S3::Bucket of this template (as SAM "
                                    f"requires)")
            events = props.get("Events")
            config: dict[str, Any] = {"Id": logical_id, "LambdaFunctionArn": fn.arn,
                                      "Events": events if isinstance(events, list) else [events]}
            if props.get("Filter"):
                config["Filter"] = {"Key": {"FilterRules": props["Filter"].get("S3Key", {}).get("Rules", [])}}
            target = next(n for n in stack.notifications if n.logical_id == bucket["Ref"])
            target.lambda_configurations.append(config)
        else:
            rule = self._rule(fn, event_id, kind, props, where)
            stack.rules.append(rule)

    def _rule(self, fn: FunctionSpec, event_id: str, kind: str, props: dict[str, Any], where: str) -> RuleSpec:
        logical_id = f"{fn.logical_id}{event_id}"
        given = props.get("RuleName") if kind == "EventBridgeRule" else props.get("Name")
        name = str(given) if given else physical_name(self.ctx.stack_name, logical_id, 64)
        rule: dict[str, Any] = {"Name": name}
        if kind == "EventBridgeRule":
            if not props.get("Pattern"):
                raise TemplateError(f"{where}.Pattern: required")
            rule["EventPattern"] = json.dumps(props["Pattern"], sort_keys=True)
            if props.get("EventBusName"):
                rule["EventBusName"] = str(props["EventBusName"])
            rule["State"] = props.get("State", "ENABLED")
        else:
            if not props.get("Schedule"):
                raise TemplateError(f"{where}.Schedule: required (rate(...) or cron(...))")
            rule["ScheduleExpression"] = str(props["Schedule"])
            enabled = props.get("Enabled", True)
            rule["State"] = props.get("State") or ("ENABLED" if str(enabled).lower() == "true" else "DISABLED")
            if props.get("Description"):
                rule["Description"] = str(props["Description"])
        target_id = (props.get("Target") or {}).get("Id") or f"{logical_id}LambdaTarget"[:64]
        target: dict[str, Any] = {"Id": target_id, "Arn": fn.arn}
        for key in ("Input", "InputPath", "InputTransformer", "RetryPolicy", "DeadLetterConfig"):
            if key in props:
                target[key] = props[key]
        if "DeadLetterConfig" in target and "Arn" not in target["DeadLetterConfig"]:
            raise TemplateError(f"{where}.DeadLetterConfig: give the queue's Arn (SAM's Type: SQS, which makes a "
                                f"queue, is not supported)")
        if isinstance(target.get("Input"), (dict, list)):
            target["Input"] = json.dumps(target["Input"])
        return RuleSpec(logical_id, name, fn.logical_id, rule, target)


def _merge_globals(glob: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """SAM's rule: a resource's own value wins; maps are merged (deeply), lists are the global's then its own."""
    out = copy.deepcopy(glob)
    for key, value in props.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not _is_intrinsic(value):
            out[key] = _merge_globals(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + copy.deepcopy(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


def _tags(props: dict[str, Any], logical_id: str, sam: bool = False) -> dict[str, str]:
    """``Tags`` as a map: SAM functions take a map, CloudFormation resources a list of Key/Value."""
    tags = props.get("Tags") or {}
    if isinstance(tags, list):
        try:
            return {str(t["Key"]): str(t["Value"]) for t in tags}
        except (KeyError, TypeError) as err:
            raise TemplateError(f"{logical_id}.Properties.Tags: a list of Key/Value") from err
    if not isinstance(tags, dict):
        raise TemplateError(f"{logical_id}.Properties.Tags: {'a map' if sam else 'a list of Key/Value'}")
    return {str(k): str(v) for k, v in tags.items()}
