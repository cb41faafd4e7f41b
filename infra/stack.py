"""The stack, declared once from settings and the handler registry.

Buckets, the event bus, one queue (with a dead-letter queue) per handler
and for the workers' tasks, one rule per event trigger targeting that
handler's queue, S3 notifications, the training log group and, on an
emulator, the default SageMaker execution role. ``provision`` makes AWS (or
an emulator) match this declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handlers.registry import HandlerSpec, OnEvent, OnObjectCreated, OnS3Notification
from services.core.settings import Settings
from services.core.tasks import ORCHESTRATION_QUEUE, TASKS_QUEUE
from services.execution.log_shipper import TRAINING_LOG_GROUP
from services.functions.async_delivery import ASYNC_QUEUE, ASYNC_QUEUE_MAX_RECEIVES


@dataclass(frozen=True)
class QueueDecl:
    """A queue and its dead-letter queue."""

    name: str
    dlq: str
    max_receive_count: int
    visibility_timeout: int


@dataclass(frozen=True)
class RuleDecl:
    """An EventBridge rule whose single target is a queue."""

    name: str
    bus: str
    pattern: dict[str, Any]
    queue: str
    description: str = ""


@dataclass(frozen=True)
class NotificationDecl:
    """A direct S3 -> SQS notification."""

    bucket: str
    queue: str
    prefix: str = ""
    suffix: str = ""


@dataclass(frozen=True)
class RoleDecl:
    """An IAM role that ``service`` may assume, with one inline policy."""

    name: str
    service: str
    policy_name: str
    policy: dict[str, Any]
    description: str = ""

    @property
    def trust_policy(self) -> dict[str, Any]:
        """The role's trust policy: ``service`` may ``sts:AssumeRole`` it."""
        return {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": self.service}, "Action": "sts:AssumeRole"}]}


# An emulator enforces no IAM policy at all: the role's policy says so, so that a simulation
# (iam:SimulatePrincipalPolicy) of what it may do tells the truth about what the emulator lets it do.
EMULATOR_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass
class StackDecl:
    """Everything ``provision`` creates."""

    buckets: list[str]
    bus: str
    queues: list[QueueDecl]
    rules: list[RuleDecl]
    eventbridge_buckets: list[str]
    notifications: list[NotificationDecl] = field(default_factory=list)
    log_groups: list[str] = field(default_factory=list)
    roles: list[RoleDecl] = field(default_factory=list)


def declare_stack(settings: Settings, handlers: dict[str, HandlerSpec]) -> StackDecl:
    """The stack for ``settings`` and the registered ``handlers``."""
    queues = [QueueDecl(settings.queue_name(q), settings.dlq_name(q), settings.task_max_attempts + 2,
                        settings.visibility_timeout) for q in (TASKS_QUEUE, ORCHESTRATION_QUEUE)]
    # Event invocations of user functions (their retries are counted in the message itself).
    queues.append(QueueDecl(settings.queue_name(ASYNC_QUEUE), settings.dlq_name(ASYNC_QUEUE),
                            ASYNC_QUEUE_MAX_RECEIVES, settings.visibility_timeout))
    rules: list[RuleDecl] = []
    notifications: list[NotificationDecl] = []
    for spec in sorted(handlers.values(), key=lambda s: s.name):
        q = QueueDecl(settings.queue_name(spec.name), settings.dlq_name(spec.name),
                      # One more receive than the runtime's own dead-lettering:
                      # SQS's redrive is the backstop if the runtime dies.
                      settings.max_receive_count + 1, settings.visibility_timeout)
        queues.append(q)
        trig = spec.trigger
        if isinstance(trig, (OnObjectCreated, OnEvent)):
            bus = "default" if trig.bus == "default" else settings.event_bus
            rules.append(RuleDecl(settings.queue_name(spec.name), bus, trig.pattern(settings), q.name,
                                  spec.description))
        elif isinstance(trig, OnS3Notification):
            notifications.append(NotificationDecl(getattr(settings, trig.bucket), q.name, trig.prefix, trig.suffix))
    return StackDecl(
        buckets=[settings.data_bucket, settings.artifacts_bucket, settings.system_bucket],
        bus=settings.event_bus,
        queues=queues,
        rules=rules,
        eventbridge_buckets=[settings.data_bucket],
        notifications=notifications,
        log_groups=[TRAINING_LOG_GROUP],
        roles=[] if settings.is_real_aws else [execution_role(settings)],
    )


def execution_role(settings: Settings) -> RoleDecl:
    """The default SageMaker execution role of an emulated stack.

    Declared on an emulator only: on AWS an allow-everything role would be a real grant, and a
    user names a role of their own."""
    return RoleDecl(settings.execution_role, "sagemaker.amazonaws.com", f"{settings.resource_prefix}-emulator-access",
                    EMULATOR_ACCESS, "Headwater's default SageMaker execution role (an emulator's: it allows all)")
