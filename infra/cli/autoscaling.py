"""``headwater autoscaling``: scalable targets, their policies and recent activities, read-only."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiobotocore.session import get_session

from infra.cli.commands import sagemaker_client
from infra.cli.endpoints import settings_for_client
from services.aws.session import client_kwargs
from services.core.settings import Settings

NS = "sagemaker"


@contextlib.asynccontextmanager
async def autoscaling_client(settings: Settings) -> AsyncIterator[Any]:
    """An aiobotocore ``application-autoscaling`` client for the node under ``settings.state_dir``."""
    settings, endpoints = settings_for_client(settings.state_dir, settings.aws_endpoint)
    kwargs = client_kwargs(settings, "application-autoscaling")
    kwargs["endpoint_url"] = endpoints["autoscaling"]
    async with get_session().create_client("application-autoscaling", **kwargs) as client:
        yield client


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


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
    async with autoscaling_client(settings) as aas, sagemaker_client(settings) as sm:
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
        _table(rows)
    else:
        print("(no scalable targets)")
    if latest:
        print()
        _table([("STARTED", "STATUS", "TARGET", "ACTIVITY", "CAUSE")] + [
            (a["StartTime"].astimezone().strftime("%Y-%m-%d %H:%M:%S"), a["StatusCode"], a["ResourceId"],
             a["Description"], a["Cause"]) for a in latest])
    return 0
