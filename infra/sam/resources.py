"""What a resolved template asks for: one typed spec per resource the deployer makes.

Each spec knows the physical id it gets and the desired state the deployer compares (its ``fingerprint``
inputs), so a redeploy of an unchanged template is a read, never a write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FUNCTION = "AWS::Serverless::Function"
BUCKET = "AWS::S3::Bucket"
QUEUE = "AWS::SQS::Queue"
RULE = "AWS::Events::Rule"
MAPPING = "AWS::Lambda::EventSourceMapping"
NOTIFICATIONS = "AWS::S3::BucketNotifications"  # a bucket's NotificationConfiguration, deployed after its functions


@dataclass
class QueueSpec:
    """An SQS queue (``CreateQueue`` attributes as strings, as the API takes them)."""

    logical_id: str
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]

    def desired(self) -> dict[str, Any]:
        return {"attributes": self.attributes, "tags": self.tags}


@dataclass
class BucketSpec:
    """An S3 bucket; its notifications are a :class:`NotificationsSpec` of their own."""

    logical_id: str
    name: str
    tags: dict[str, str]

    def desired(self) -> dict[str, Any]:
        return {"tags": self.tags}


@dataclass
class FunctionSpec:
    """A function: its package folder (or zip) and the ``CreateFunction`` configuration."""

    logical_id: str
    name: str
    arn: str
    code_uri: Path
    config: dict[str, Any]  # Handler, Runtime, Timeout, MemorySize, Environment, Role, Description, DeadLetterConfig
    tags: dict[str, str]
    policies: Any = None  # accepted and recorded, not enforced

    def desired(self, code_sha256: str) -> dict[str, Any]:
        return {"config": self.config, "tags": self.tags, "code": code_sha256}


@dataclass
class RuleSpec:
    """An EventBridge rule (an ``EventBridgeRule`` or ``Schedule`` event of a function) and its one target."""

    logical_id: str
    name: str
    function_logical_id: str
    rule: dict[str, Any]  # PutRule's members
    target: dict[str, Any]  # PutTargets' one target

    def desired(self) -> dict[str, Any]:
        return {"rule": self.rule, "target": self.target}


@dataclass
class MappingSpec:
    """An SQS event source mapping (``CreateEventSourceMapping``)."""

    logical_id: str
    function_logical_id: str
    source_arn: str
    function_name: str
    settings: dict[str, Any]  # BatchSize, MaximumBatchingWindowInSeconds, FunctionResponseTypes, Enabled

    def desired(self) -> dict[str, Any]:
        return {"source": self.source_arn, "function": self.function_name, "settings": self.settings}


@dataclass
class NotificationsSpec:
    """A bucket's whole notification configuration: the ``S3`` events of the template's functions on it and
    its EventBridge switch (``PutBucketNotificationConfiguration`` replaces it all at once)."""

    logical_id: str  # the bucket's
    bucket: str
    eventbridge: bool
    lambda_configurations: list[dict[str, Any]] = field(default_factory=list)

    def configuration(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.lambda_configurations:
            config["LambdaFunctionConfigurations"] = self.lambda_configurations
        if self.eventbridge:
            config["EventBridgeConfiguration"] = {}
        return config

    def desired(self) -> dict[str, Any]:
        return self.configuration()


@dataclass
class Stack:
    """A resolved template: what to deploy, in the order it is made."""

    name: str
    queues: list[QueueSpec] = field(default_factory=list)
    buckets: list[BucketSpec] = field(default_factory=list)
    functions: list[FunctionSpec] = field(default_factory=list)
    rules: list[RuleSpec] = field(default_factory=list)
    mappings: list[MappingSpec] = field(default_factory=list)
    notifications: list[NotificationsSpec] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
