"""The scaler: every tick while a target is registered, evaluate each target's policies and apply what they ask.

A change goes through the same path as ``UpdateEndpointWeightsAndCapacities``
(the endpoint turns ``Updating``, the hosting manager starts or drains
instances, the endpoint reports ``InService`` with its new counts), and is
recorded as a scaling activity: ``InProgress`` when issued, ``Successful`` or
``Failed`` once the endpoint has settled. While an activity is in progress
its target is not evaluated again. A target whose endpoint was deleted is
deregistered, as AWS does on ``DeleteEndpoint``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime

from services.autoscaling.decision import Decision, Window, combine, decide
from services.autoscaling.models import ActivityStatus, ScalableTarget, ScalingActivity, ScalingPolicy
from services.autoscaling.resources import VariantRef, parse_variant
from services.autoscaling.service import AutoScalingService
from services.core.exceptions import ServiceError
from services.core.ticks import rest
from services.hosting.invocation_metrics import InvocationMetrics
from services.hosting.models import Endpoint, EndpointStatus

log = logging.getLogger(__name__)

TARGET_TRACKING = "TargetTrackingScaling"


class Scaler:
    """Target tracking for SageMaker variants, on the node's clock."""

    def __init__(self, service: AutoScalingService, metrics: InvocationMetrics, *, tick: float,
                 scale_out_periods: int, scale_in_periods: int) -> None:
        self.service = service
        self.hosting = service.hosting
        self.metrics = metrics
        self.tick = tick
        self.scale_out_periods = scale_out_periods
        self.scale_in_periods = scale_in_periods
        self._targets = True  # until the first pass says otherwise

    def next_wake(self) -> float | None:
        """Seconds until the next pass, or ``None``: with no target registered only a change wakes the scaler."""
        return self.tick if self._targets else None

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate every ``tick`` seconds while a target is registered, until ``stop`` is set.

        With no target (so no policy either) it lists nothing and does not wake: it waits for
        :attr:`AutoScalingService.changed` (a target registered, a policy put, through this node), or the
        stop. A target registered through another node sharing the state is evaluated by that node's scaler
        (and by this one after its next change or start).
        """
        while not stop.is_set():
            self.service.changed.clear()  # a change during the pass makes another pass
            try:
                await self.evaluate_all()
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("autoscaling tick failed")
            await rest(stop, self.service.changed, timeout=self.next_wake())

    async def evaluate_all(self) -> None:
        """One pass over every registered target."""
        targets = await self.service.targets.list()
        self._targets = bool(targets)
        if not targets:
            return  # a policy belongs to a registered target: none to read
        policies: dict[str, list[ScalingPolicy]] = defaultdict(list)
        for policy in await self.service.policies.list():
            policies[policy.target_key].append(policy)
        for target in targets:
            try:
                await self.evaluate(target, policies.get(target.key, []))
            except Exception:  # noqa: BLE001 - one target's trouble must not stop the others
                log.exception("autoscaling %s failed", target.resource_id)

    async def evaluate(self, target: ScalableTarget, policies: list[ScalingPolicy]) -> None:
        """Settle the target's pending activity, or decide and apply a change."""
        ref = parse_variant(target.service_namespace, target.resource_id, target.scalable_dimension)
        endpoint = await self.hosting.endpoints.get(ref.endpoint)
        if endpoint is None:
            await self.service.deregister_scalable_target(target.service_namespace, target.resource_id,
                                                          target.scalable_dimension)
            self.metrics.forget(ref.endpoint)
            return
        activities = await self.service.recent_activities(target)
        pending = next((a for a in activities if a.status_code is ActivityStatus.IN_PROGRESS), None)
        if pending is not None:
            await self._settle(target, ref, endpoint, pending)
            return
        current = _current_count(endpoint, ref.variant)
        if endpoint.endpoint_status is not EndpointStatus.IN_SERVICE or current is None:
            return
        if not target.min_capacity <= current <= target.max_capacity:
            bound = "minimum" if current < target.min_capacity else "maximum"
            desired = max(target.min_capacity, min(target.max_capacity, current))
            await self._apply(target, ref, desired, "out" if desired > current else "in",
                              f"{bound} capacity was set to {desired}")
            return
        tracking = [p for p in policies if p.policy_type == TARGET_TRACKING
                    and p.target_tracking_scaling_policy_configuration]
        if not tracking:
            return
        decision, policy = self._decide(target, ref, current, tracking, activities)
        if decision is not None and policy is not None:
            alarm = next((a["AlarmName"] for a in policy.alarms if f"-{decision.alarm}-" in a["AlarmName"]),
                         f"TargetTracking-{target.resource_id}-{decision.alarm}")
            await self._apply(target, ref, decision.desired, decision.direction,
                              f"monitor alarm {alarm} in state ALARM triggered policy {policy.policy_name}")

    def _decide(self, target: ScalableTarget, ref: VariantRef, current: int, tracking: list[ScalingPolicy],
                activities: list[ScalingActivity]) -> tuple[Decision | None, ScalingPolicy | None]:
        def last(direction: str) -> datetime | None:
            done = [a for a in activities if a.headwater.direction == direction]
            return (done[0].end_time or done[0].start_time) if done else None

        settled = activities[0].end_time if activities else None
        # Only datapoints measured at the current capacity: earlier ones were per-instance of another fleet.
        points = self.metrics.datapoints(ref.endpoint, ref.variant, max(self.scale_out_periods,
                                                                        self.scale_in_periods),
                                         current, since=settled.timestamp() if settled else None)
        values = [p.per_instance_per_minute(self.metrics.period) for p in points]
        window = Window(self.scale_out_periods, self.scale_in_periods, last("out"), last("in"))
        state = target.suspended_state
        decisions = [decide(p.target_tracking_scaling_policy_configuration or {}, current, target.min_capacity,
                            target.max_capacity, values, self.service.clock(), window,
                            out_suspended=state.dynamic_scaling_out_suspended,
                            in_suspended=state.dynamic_scaling_in_suspended) for p in tracking]
        chosen = combine(decisions)
        if chosen is None:
            return None, None
        return chosen, tracking[decisions.index(chosen)]

    async def _apply(self, target: ScalableTarget, ref: VariantRef, desired: int, direction: str, cause: str) -> None:
        activity = await self.service.start_activity(target, desired, direction, cause)
        log.info("autoscaling %s: %s (%s)", target.resource_id, activity.description, cause)
        try:
            await self.hosting.update_weights_and_capacities(
                ref.endpoint, [{"VariantName": ref.variant, "DesiredInstanceCount": desired}])
        except ServiceError as err:
            await self.service.finish_activity(target, activity.activity_id, ActivityStatus.FAILED,
                                               f"Failed to set desired instance count to {desired}. "
                                               f"Reason: {err.message}")

    async def _settle(self, target: ScalableTarget, ref: VariantRef, endpoint: Endpoint,
                      activity: ScalingActivity) -> None:
        if endpoint.endpoint_status in (EndpointStatus.UPDATING, EndpointStatus.CREATING):
            return  # still being applied
        desired = activity.headwater.desired
        current = _current_count(endpoint, ref.variant)
        if current == desired:
            await self.service.finish_activity(target, activity.activity_id, ActivityStatus.SUCCESSFUL,
                                               f"Successfully set desired instance count to {desired}. Change "
                                               "successfully fulfilled by sagemaker.")
            return
        reason = endpoint.failure_reason or f"the variant has {current} instance(s) (endpoint " \
                                            f"{endpoint.endpoint_status.value})"
        await self.service.finish_activity(target, activity.activity_id, ActivityStatus.FAILED,
                                           f"Failed to set desired instance count to {desired}. Reason: {reason}")


def _current_count(endpoint: Endpoint, variant: str) -> int | None:
    summary = next((v for v in endpoint.production_variants or [] if v.variant_name == variant), None)
    return summary.current_instance_count if summary is not None else None
