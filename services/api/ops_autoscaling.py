"""Application Auto Scaling operations (``AnyScaleFrontendService.<Op>``), served on their own port.

The same JSON 1.1 machinery as the SageMaker control plane: inputs are
checked against botocore's ``application-autoscaling`` model before any
operation runs.
"""

from __future__ import annotations

from typing import Any

from services.api.protocol import page_response
from services.api.server import AwsJsonService
from services.autoscaling.service import AutoScalingService


def register(api: AwsJsonService, service: AutoScalingService) -> None:
    """Register the scalable target, scaling policy and scaling activity operations."""

    @api.operation("RegisterScalableTarget")
    async def register_scalable_target(params: dict[str, Any]) -> dict[str, Any]:
        target = await service.register_scalable_target(params)
        return {"ScalableTargetARN": target.scalable_target_arn}

    @api.operation("DescribeScalableTargets")
    async def describe_scalable_targets(params: dict[str, Any]) -> dict[str, Any]:
        targets, token = await service.describe_scalable_targets(params)
        return page_response("ScalableTargets", [t.describe() for t in targets], token)

    @api.operation("DeregisterScalableTarget")
    async def deregister_scalable_target(params: dict[str, Any]) -> dict[str, Any]:
        await service.deregister_scalable_target(params["ServiceNamespace"], params["ResourceId"],
                                                 params["ScalableDimension"])
        return {}

    @api.operation("PutScalingPolicy")
    async def put_scaling_policy(params: dict[str, Any]) -> dict[str, Any]:
        policy = await service.put_scaling_policy(params)
        return {"PolicyARN": policy.policy_arn, "Alarms": policy.alarms}

    @api.operation("DescribeScalingPolicies")
    async def describe_scaling_policies(params: dict[str, Any]) -> dict[str, Any]:
        policies, token = await service.describe_scaling_policies(params)
        return page_response("ScalingPolicies", [p.describe() for p in policies], token)

    @api.operation("DeleteScalingPolicy")
    async def delete_scaling_policy(params: dict[str, Any]) -> dict[str, Any]:
        await service.delete_scaling_policy(params["PolicyName"], params["ServiceNamespace"], params["ResourceId"],
                                            params["ScalableDimension"])
        return {}

    @api.operation("DescribeScalingActivities")
    async def describe_scaling_activities(params: dict[str, Any]) -> dict[str, Any]:
        activities, token = await service.describe_scaling_activities(params)
        return page_response("ScalingActivities", [a.describe() for a in activities], token)


def build_autoscaling_api(service: AutoScalingService) -> AwsJsonService:
    """The ``AnyScaleFrontendService`` JSON 1.1 service over ``service``."""
    api = AwsJsonService("application-autoscaling")
    register(api, service)
    return api
