"""``headwater autoscaling``: scalable targets, their policies and recent activities, read-only."""

from __future__ import annotations

from typing import Any

from infra.cli.client import node_client, print_table, sagemaker_client
from services.core.settings import Settings

NS = "sagemaker"


def _policy_text(p: dict[str, Any]) -> str:
    tracking = p.get("TargetTrackingScalingPolicyConfiguration")
    if not tracking:
        return f"{p['PolicyName']} ({p['PolicyType']})"
    metric = (tracking.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType", "custom")
    return (f"{p['PolicyName']} ({metric} target {tracking['TargetValue']:g}, cooldown out "
            f"{tracking.get('ScaleOutCooldown', 300)}s / in {tracking.get('ScaleInCooldown', 300)}s)")


async def _current(sm: Any, resource_id: str) -> str:
    _, endpoint, _, variant = resource_id.split("/", 3)
    try:
        d = await sm.describe_endpoint(EndpointName=endpoint)
    except Exception:  # noqa: BLE001 - a view: an endpoint being deleted shows as '-'
        return "-"
    v = next((v for v in d.get("ProductionVariants", []) if v["VariantName"] == variant), {})
    return f"{v.get('CurrentInstanceCount', '-')}/{v.get('DesiredInstanceCount', '-')} ({d['EndpointStatus']})"


async def print_autoscaling(settings: Settings, activities: int = 10) -> int:
    """Print every scalable target with its policies, then the latest ``activities`` activities."""
    async with node_client(settings, "application-autoscaling", "autoscaling") as aas, sagemaker_client(settings) as sm:
        targets = [t async for page in aas.get_paginator("describe_scalable_targets").paginate(ServiceNamespace=NS)
                   for t in page["ScalableTargets"]]
        policies = [p async for page in aas.get_paginator("describe_scaling_policies").paginate(ServiceNamespace=NS)
                    for p in page["ScalingPolicies"]]
        answer = await aas.describe_scaling_activities(ServiceNamespace=NS, MaxResults=activities)
        latest = answer["ScalingActivities"]
        rows: list[tuple[str, ...]] = [("TARGET", "MIN", "MAX", "CURRENT/DESIRED", "POLICIES")]
        for t in targets:
            own = [_policy_text(p) for p in policies if p["ResourceId"] == t["ResourceId"]]
            rows.append((t["ResourceId"], str(t["MinCapacity"]), str(t["MaxCapacity"]),
                         await _current(sm, t["ResourceId"]), "; ".join(own) or "-"))
    if targets:
        print_table(rows)
    else:
        print("(no scalable targets)")
    if latest:
        print()
        print_table([("STARTED", "STATUS", "TARGET", "ACTIVITY", "CAUSE")] + [
            (a["StartTime"].astimezone().strftime("%Y-%m-%d %H:%M:%S"), a["StatusCode"], a["ResourceId"],
             a["Description"], a["Cause"]) for a in latest])
    return 0
