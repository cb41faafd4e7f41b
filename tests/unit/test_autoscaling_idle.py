"""An idle node's autoscaling clock: no listing while no target is registered, awake as soon as one is."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from services.autoscaling.models import ActivityLog, ScalableTarget, ScalingPolicy
from services.autoscaling.scaler import Scaler
from services.autoscaling.service import AutoScalingService
from services.core.store import DocumentStore, MemoryBackend
from services.hosting.models import EndpointStatus

NOW = datetime(2026, 3, 1, 12, 0, 5, tzinfo=timezone.utc)
RID = "endpoint/ep/variant/AllTraffic"
DIM = "sagemaker:variant:DesiredInstanceCount"


class ListingBackend(MemoryBackend):
    """Counts listings per collection and signals each one."""

    def __init__(self) -> None:
        super().__init__()
        self.listings: dict[str, int] = {"t": 0, "p": 0}
        self.listed = asyncio.Event()

    async def listing(self, prefix: str) -> list[tuple[str, str | None]]:
        kind = prefix.split("/", 1)[0]
        self.listings[kind] = self.listings.get(kind, 0) + 1
        self.listed.set()
        return await super().listing(prefix)


def _hosting() -> Any:
    async def get(name: str) -> Any:  # an endpoint still being created: evaluated, nothing to change
        return SimpleNamespace(endpoint_status=EndpointStatus.CREATING, production_variants=[], failure_reason=None)

    return SimpleNamespace(endpoints=SimpleNamespace(get=get))


async def test_with_no_target_the_scaler_waits_for_a_change_not_a_timer() -> None:
    backend = ListingBackend()
    service = AutoScalingService(DocumentStore(backend, "t", ScalableTarget, "Scalable target"),
                                 DocumentStore(backend, "p", ScalingPolicy, "Scaling policy"),
                                 DocumentStore(MemoryBackend(), "a", ActivityLog, "Activity log"), _hosting(),
                                 region="us-east-1", account_id="123456789012", clock=lambda: NOW)
    scaler = Scaler(service, metrics=None, tick=3600, scale_out_periods=3, scale_in_periods=15)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(scaler.run(stop))
    await asyncio.wait_for(backend.listed.wait(), 10)  # the first pass, at start
    assert scaler.next_wake() is None  # no target: no timer at all
    assert backend.listings == {"t": 1, "p": 0}  # and no policy listing for targets that do not exist

    backend.listed.clear()
    target = ScalableTarget.model_validate({
        "ServiceNamespace": "sagemaker", "ResourceId": RID, "ScalableDimension": DIM, "MinCapacity": 1,
        "MaxCapacity": 2, "RoleARN": "arn:aws:iam::123456789012:role/r", "CreationTime": NOW,
        "ScalableTargetARN": "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/x"})
    await service.targets.create(target.key, target)  # written as RegisterScalableTarget would, then announced
    service.changed.set()
    await asyncio.wait_for(backend.listed.wait(), 10)  # a 3600 s tick: only the change can have woken it
    while backend.listings["p"] < 1:  # the pass goes on to the target's policies
        await asyncio.sleep(0)
    assert scaler.next_wake() == 3600  # a target: the clock ticks again
    stop.set()
    await asyncio.wait_for(task, 10)
    assert backend.listings == {"t": 2, "p": 1}
