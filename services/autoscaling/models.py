"""Application Auto Scaling shapes, as botocore's ``application-autoscaling`` model names them.

Documents in the state store are these models; ``describe()`` gives the
wire form of each (Headwater's own bookkeeping is stored, never described).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import Field

from services.core.models import ApiModel

_PRIVATE = {"Tags", "Headwater"}


def document_key(*parts: str) -> str:
    """A store key for a (namespace, resource id, dimension[, policy]) identity.

    Resource ids carry slashes and dimensions colons; a digest keeps keys
    flat and safe on every S3, and the identity lives in the document.
    """
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


class SuspendedState(ApiModel):
    """``SuspendedState``: which kinds of scaling are paused."""

    dynamic_scaling_in_suspended: bool = False
    dynamic_scaling_out_suspended: bool = False
    scheduled_scaling_suspended: bool = False


class ScalableTarget(ApiModel):
    """A registered scalable target (``ScalableTarget``)."""

    service_namespace: str
    resource_id: str
    scalable_dimension: str
    min_capacity: int
    max_capacity: int
    role_arn: str = Field(alias="RoleARN")
    creation_time: datetime
    suspended_state: SuspendedState = Field(default_factory=SuspendedState)
    scalable_target_arn: str = Field(alias="ScalableTargetARN")
    tags: dict[str, str] | None = None

    @property
    def key(self) -> str:
        """This target's store key."""
        return document_key(self.service_namespace, self.resource_id, self.scalable_dimension)

    def describe(self) -> dict[str, Any]:
        """The ``ScalableTarget`` member of ``DescribeScalableTargets``."""
        return {k: v for k, v in self.to_api().items() if k not in _PRIVATE}


class ScalingPolicy(ApiModel):
    """A scaling policy (``ScalingPolicy``); configurations are kept as sent."""

    policy_arn: str = Field(alias="PolicyARN")
    policy_name: str
    service_namespace: str
    resource_id: str
    scalable_dimension: str
    policy_type: str
    step_scaling_policy_configuration: dict[str, Any] | None = None
    target_tracking_scaling_policy_configuration: dict[str, Any] | None = None
    alarms: list[dict[str, str]] = Field(default_factory=list)
    creation_time: datetime

    @property
    def target_key(self) -> str:
        """The store key of the policy's scalable target."""
        return document_key(self.service_namespace, self.resource_id, self.scalable_dimension)

    def describe(self) -> dict[str, Any]:
        """The ``ScalingPolicy`` member of ``DescribeScalingPolicies``."""
        return self.to_api()


class ActivityStatus(str, Enum):
    """``ScalingActivityStatusCode`` values Headwater records."""

    IN_PROGRESS = "InProgress"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"


class ActivityBookkeeping(ApiModel):
    """Headwater's own fields on an activity."""

    desired: int
    direction: str  # "out" or "in"


class ScalingActivity(ApiModel):
    """One scaling activity (``ScalingActivity``)."""

    activity_id: str
    service_namespace: str
    resource_id: str
    scalable_dimension: str
    description: str
    cause: str
    start_time: datetime
    end_time: datetime | None = None
    status_code: ActivityStatus
    status_message: str | None = None
    details: str | None = None
    headwater: ActivityBookkeeping

    def describe(self) -> dict[str, Any]:
        """The ``ScalingActivity`` member of ``DescribeScalingActivities``."""
        return {k: v for k, v in self.to_api().items() if k not in _PRIVATE}


class ActivityLog(ApiModel):
    """A target's activities, newest first, at most :data:`MAX_ACTIVITIES`."""

    service_namespace: str
    resource_id: str
    scalable_dimension: str
    activities: list[ScalingActivity] = Field(default_factory=list)


#: Activities kept per target (AWS keeps six weeks; a bound keeps documents small).
MAX_ACTIVITIES = 100
