"""Copies of requests to shadow variants: bounded in flight, and production answers regardless.

The invoker routes to instances whose ``invoke`` is replaced by stand-ins:
production answers at once, the shadow variant holds every request until
the test lets it go, as a slow or stuck shadow model does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from containers.shared.http_server import Request
from services.hosting.fleet import LiveEndpoint, LiveVariant
from services.hosting.invoke import EndpointInvoker
from services.hosting.models import EndpointConfig, Model
from services.hosting.shadow import ShadowStats
from services.inference.instance import Answer, Instance

BOUND = 4


async def _until(condition: Any, timeout: float = 10) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


class SlowShadow:
    """A shadow model that answers only once released; counts the requests it holds."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.held = 0
        self.most_held = 0

    async def invoke(self, *args: Any) -> Answer:
        self.started += 1
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        try:
            await self.release.wait()
        finally:
            self.held -= 1
        return Answer(200, b"0.5", "text/csv")


def _variant(name: str, tmp_path: Path, invoke: Any) -> LiveVariant:
    instance = Instance(name, tmp_path, [], None, None, "g", "s")  # type: ignore[arg-type]
    instance.healthy = True
    instance.invoke = invoke  # type: ignore[method-assign]
    return LiveVariant(name, Model(model_name="m"), 1.0, [instance], [])


async def test_shadow_copies_in_flight_stay_bounded_and_production_keeps_answering(tmp_path: Path) -> None:
    async def production(*args: Any) -> Answer:
        return Answer(200, b"0.5", "text/csv")

    shadow = SlowShadow()
    config = EndpointConfig(endpoint_config_name="c", production_variants=[])
    live = LiveEndpoint("ep", config, {"Prod": _variant("Prod", tmp_path, production)},
                        {"Shadow": _variant("Shadow", tmp_path, shadow.invoke)})
    async def live_endpoint(name: str, wait: float) -> LiveEndpoint | None:
        return {"ep": live}.get(name)

    manager = SimpleNamespace(live={"ep": live}, live_endpoint=live_endpoint, session=object(), invoke_timeout=5.0)
    stats = ShadowStats()
    invoker = EndpointInvoker(manager, None, stats,  # type: ignore[arg-type]
                              region="us-east-1", account_id="123456789012")
    invoker.max_shadow_in_flight = BOUND

    sent = 50
    try:
        for _ in range(sent):
            response = await invoker("ep", Request("POST", "/endpoints/ep/invocations", {"content-type": "text/csv"},
                                                   b"1,2"))
            assert response is not None and response.status == 200 and response.body == b"0.5"

        def skipped() -> int:
            return int(stats.report("ep").get("Shadow", {}).get("skipped", 0))

        # Every request was either copied to the shadow (and is held there) or skipped.
        await _until(lambda: shadow.started + skipped() >= sent)
        assert shadow.most_held <= BOUND
        assert skipped() == sent - BOUND
        shadow.release.set()
        await _until(lambda: stats.report("ep")["Shadow"]["requests"] == BOUND)
        assert stats.report("ep") == {"Shadow": {"requests": BOUND, "errors": 0, "agreed": BOUND, "agreement": 1.0,
                                                 "skipped": sent - BOUND}}
    finally:
        shadow.release.set()  # nothing left held, whatever failed
