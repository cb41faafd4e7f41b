"""The Application Auto Scaling control plane: scalable targets, scaling policies, scaling activities.

Three document collections in the state store (targets, policies, one
activity log per target), so everything survives a node's restart. The
scaler (:mod:`services.autoscaling.scaler`) reads targets and policies and
writes activities through :meth:`start_activity` / :meth:`finish_activity`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.autoscaling.exceptions import InvalidNextTokenException, ObjectNotFoundException
from services.autoscaling.models import (
    MAX_ACTIVITIES,
    ActivityBookkeeping,
    ActivityLog,
    ActivityStatus,
    ScalableTarget,
    ScalingActivity,
    ScalingPolicy,
    SuspendedState,
    document_key,
)
from services.autoscaling.resources import ROLE_PATH, check_policy, parse_variant
from services.core.exceptions import ResourceInUse, ValidationException
from services.core.paging import decode_token, encode_token
from services.core.store import DocumentStore
from services.core.times import utcnow
from services.hosting.service import HostingService


def page(items: list[Any], max_results: int | None, token: str | None, limit: int) -> tuple[list[Any], str | None]:
    """One page of ``items`` as the Describe* operations page (``MaxResults`` 1..``limit``)."""
    size = limit if max_results is None else max_results
    if not 1 <= size <= limit:
        raise ValidationException(f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy "
                                  f"constraint: Member must have value {'less' if size > limit else 'greater'} than "
                                  f"or equal to {limit if size > limit else 1}")
    try:
        start = decode_token(token) if token else 0
    except ValidationException as err:
        raise InvalidNextTokenException(f"Invalid token: {token}") from err
    chunk = items[start:start + size]
    return chunk, (encode_token(start + size) if start + size < len(items) else None)


def _not_registered(namespace: str, resource_id: str, dimension: str) -> ObjectNotFoundException:
    return ObjectNotFoundException(f"No scalable target registered for service namespace: {namespace}, resource ID: "
                                   f"{resource_id}, scalable dimension: {dimension}")


class AutoScalingService:
    """``RegisterScalableTarget`` ... ``DescribeScalingActivities`` over the state store."""

    def __init__(self, targets: DocumentStore[ScalableTarget], policies: DocumentStore[ScalingPolicy],
                 activities: DocumentStore[ActivityLog], hosting: HostingService, *, region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.targets = targets
        self.policies = policies
        self.activities = activities
        self.hosting = hosting
        self.region = region
        self.account_id = account_id
        self.clock = clock
        # Set by every change that may give the node's scaler work (a target registered or deregistered, a
        # policy put or deleted): with no target registered the scaler waits on it, not a timer.
        self.changed = asyncio.Event()

    # ---------------------------------------------------------------- targets

    async def register_scalable_target(self, params: dict[str, Any]) -> ScalableTarget:
        """Register a variant, or update a registered one's capacities and suspended state."""
        ns, rid, dim = params["ServiceNamespace"], params["ResourceId"], params["ScalableDimension"]
        ref = parse_variant(ns, rid, dim)
        await self._require_variant(ref.endpoint, ref.variant, rid)
        existing = await self.targets.get(document_key(ns, rid, dim))
        low = params.get("MinCapacity", existing.min_capacity if existing else None)
        high = params.get("MaxCapacity", existing.max_capacity if existing else None)
        if low is None or high is None:
            raise ValidationException("MinCapacity and MaxCapacity are required when registering a new scalable "
                                      "target.")
        if low < 1:
            raise ValidationException(f"MinCapacity must be at least 1 for an endpoint variant (got {low}).")
        if low > high:
            raise ValidationException(f"Minimum capacity ({low}) cannot be greater than maximum capacity ({high}).")
        suspended = SuspendedState.model_validate(params["SuspendedState"]) if params.get("SuspendedState") \
            else (existing.suspended_state if existing else SuspendedState())
        if existing is not None:
            def edit(t: ScalableTarget) -> ScalableTarget:
                t.min_capacity, t.max_capacity, t.suspended_state = low, high, suspended
                return t

            updated = (await self.targets.update(existing.key, edit))[1]
            self.changed.set()
            return updated
        target = ScalableTarget(
            service_namespace=ns, resource_id=rid, scalable_dimension=dim, min_capacity=low, max_capacity=high,
            role_arn=params.get("RoleARN") or f"arn:aws:iam::{self.account_id}:{ROLE_PATH}",
            creation_time=self.clock(), suspended_state=suspended, tags=params.get("Tags"),
            scalable_target_arn=f"arn:aws:application-autoscaling:{self.region}:{self.account_id}:"
                                f"scalable-target/{uuid.uuid4().hex}")
        try:
            await self.targets.create(target.key, target)
        except ResourceInUse:  # registered concurrently: registering is idempotent
            return await self.register_scalable_target(params)
        self.changed.set()
        return target

    async def describe_scalable_targets(self, params: dict[str, Any]) -> tuple[list[ScalableTarget], str | None]:
        """Targets of a namespace, filtered by ``ResourceIds`` and ``ScalableDimension``, oldest first."""
        ids = set(params.get("ResourceIds") or [])
        found = [t for t in await self.targets.list() if t.service_namespace == params["ServiceNamespace"]
                 and (not ids or t.resource_id in ids)
                 and params.get("ScalableDimension") in (None, t.scalable_dimension)]
        found.sort(key=lambda t: (t.creation_time, t.resource_id))
        return page(found, params.get("MaxResults"), params.get("NextToken"), 50)

    async def deregister_scalable_target(self, ns: str, rid: str, dim: str) -> None:
        """Remove a target with its policies and activity log."""
        key = document_key(ns, rid, dim)
        if await self.targets.get(key) is None:
            raise _not_registered(ns, rid, dim)
        for policy in await self.policies.list():
            if policy.target_key == key:
                await self.policies.delete(document_key(ns, rid, dim, policy.policy_name))
        await self.activities.delete(key)
        await self.targets.delete(key)
        self.changed.set()

    # --------------------------------------------------------------- policies

    async def put_scaling_policy(self, params: dict[str, Any]) -> ScalingPolicy:
        """Create or replace a policy of a registered target."""
        ns, rid, dim, name = (params["ServiceNamespace"], params["ResourceId"], params["ScalableDimension"],
                              params["PolicyName"])
        parse_variant(ns, rid, dim)
        policy_type = check_policy(params)
        if await self.targets.get(document_key(ns, rid, dim)) is None:
            raise _not_registered(ns, rid, dim)
        key = document_key(ns, rid, dim, name)
        old = await self.policies.get(key)
        ident = old.policy_arn.split(":")[6] if old else str(uuid.uuid4())
        alarms = []
        if policy_type == "TargetTrackingScaling":
            # The two alarms AWS creates for a target-tracking policy; here the scaler evaluates them itself.
            for side in ("AlarmHigh", "AlarmLow"):
                alarm = f"TargetTracking-{rid}-{side}-{uuid.uuid4()}"
                alarms.append({"AlarmName": alarm,
                               "AlarmARN": f"arn:aws:cloudwatch:{self.region}:{self.account_id}:alarm:{alarm}"})
        policy = ScalingPolicy(
            policy_arn=f"arn:aws:autoscaling:{self.region}:{self.account_id}:scalingPolicy:{ident}:resource/"
                       f"{ns}/{rid}:policyName/{name}",
            policy_name=name, service_namespace=ns, resource_id=rid, scalable_dimension=dim, policy_type=policy_type,
            step_scaling_policy_configuration=params.get("StepScalingPolicyConfiguration"),
            target_tracking_scaling_policy_configuration=params.get("TargetTrackingScalingPolicyConfiguration"),
            alarms=alarms, creation_time=old.creation_time if old else self.clock())
        if old is None:
            try:
                await self.policies.create(key, policy)
                self.changed.set()
                return policy
            except ResourceInUse:
                pass  # created concurrently: replace it below
        await self.policies.update(key, lambda _: policy)
        self.changed.set()
        return policy

    async def describe_scaling_policies(self, params: dict[str, Any]) -> tuple[list[ScalingPolicy], str | None]:
        """Policies of a namespace, filtered by ``PolicyNames``, ``ResourceId`` and ``ScalableDimension``."""
        names = set(params.get("PolicyNames") or [])
        found = [p for p in await self.policies.list() if p.service_namespace == params["ServiceNamespace"]
                 and (not names or p.policy_name in names)
                 and params.get("ResourceId") in (None, p.resource_id)
                 and params.get("ScalableDimension") in (None, p.scalable_dimension)]
        found.sort(key=lambda p: (p.creation_time, p.policy_name))
        return page(found, params.get("MaxResults"), params.get("NextToken"), 10)

    async def delete_scaling_policy(self, name: str, ns: str, rid: str, dim: str) -> None:
        """Delete one policy; ``ObjectNotFoundException`` if it does not exist."""
        key = document_key(ns, rid, dim, name)
        if await self.policies.get(key) is None:
            raise ObjectNotFoundException(f"No scaling policy found for service namespace: {ns}, resource ID: {rid}, "
                                          f"scalable dimension: {dim}, policy name: {name}")
        await self.policies.delete(key)
        self.changed.set()

    # ------------------------------------------------------------- activities

    async def describe_scaling_activities(self, params: dict[str, Any]) -> tuple[list[ScalingActivity], str | None]:
        """Activities of a namespace, filtered by ``ResourceId`` and ``ScalableDimension``, newest first."""
        logs = [a for a in await self.activities.list() if a.service_namespace == params["ServiceNamespace"]
                and params.get("ResourceId") in (None, a.resource_id)
                and params.get("ScalableDimension") in (None, a.scalable_dimension)]
        found = sorted((x for log in logs for x in log.activities), key=lambda x: x.start_time, reverse=True)
        return page(found, params.get("MaxResults"), params.get("NextToken"), 50)

    async def recent_activities(self, target: ScalableTarget) -> list[ScalingActivity]:
        """A target's activities, newest first."""
        log = await self.activities.get(target.key)
        return log.activities if log else []

    async def start_activity(self, target: ScalableTarget, desired: int, direction: str, cause: str) -> ScalingActivity:
        """Record an ``InProgress`` activity setting the target's capacity to ``desired``."""
        activity = ScalingActivity(
            activity_id=str(uuid.uuid4()), service_namespace=target.service_namespace,
            resource_id=target.resource_id, scalable_dimension=target.scalable_dimension,
            description=f"Setting desired instance count to {desired}.", cause=cause, start_time=self.clock(),
            status_code=ActivityStatus.IN_PROGRESS, headwater=ActivityBookkeeping(desired=desired, direction=direction))
        if await self.activities.get(target.key) is None:
            try:
                await self.activities.create(target.key, ActivityLog(
                    service_namespace=target.service_namespace, resource_id=target.resource_id,
                    scalable_dimension=target.scalable_dimension))
            except ResourceInUse:
                pass

        def add(log: ActivityLog) -> ActivityLog:
            log.activities = [activity, *log.activities][:MAX_ACTIVITIES]
            return log

        await self.activities.update(target.key, add)
        return activity

    async def finish_activity(self, target: ScalableTarget, activity_id: str, status: ActivityStatus,
                              message: str) -> None:
        """End an activity ``Successful`` or ``Failed`` with AWS's kind of status message."""

        def end(log: ActivityLog) -> ActivityLog:
            for a in log.activities:
                if a.activity_id == activity_id:
                    a.status_code, a.status_message, a.end_time = status, message, self.clock()
            return log

        await self.activities.update(target.key, end)

    # ---------------------------------------------------------------- helpers

    async def _require_variant(self, endpoint: str, variant: str, rid: str) -> None:
        doc = await self.hosting.endpoints.get(endpoint)
        if doc is None:
            raise ValidationException(f"Could not find endpoint \"{self.hosting.arn('endpoint', endpoint)}\" for "
                                      f"resource ID {rid}.")
        names = {v.variant_name for v in doc.production_variants or []}
        if not names:  # still Creating: its config names the variants
            config = await self.hosting.configs.get(doc.endpoint_config_name)
            names = {v.variant_name for v in config.production_variants} if config else set()
        if variant not in names:
            raise ValidationException(f"The variant name {variant} is not present in endpoint \"{doc.endpoint_arn}\" "
                                      f"(resource ID {rid}). Variants: {', '.join(sorted(names)) or 'none'}.")
