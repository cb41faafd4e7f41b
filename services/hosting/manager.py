"""The hosting manager: runs every endpoint's fleet in the node process.

The control plane tells it of each change (:class:`~services.hosting.service.FleetController`);
it starts instances through the runners, health-checks them, swaps fleets
blue/green, drains and stops old ones, and reports each outcome back as an
endpoint status. Operations on one endpoint run one at a time, in order.
On start it brings back the endpoints the store says should be serving;
on close it stops every instance it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp

from services.aws.logs import LogsAdapter
from services.aws.s3 import S3Adapter
from services.core.exceptions import JobFailed
from services.core.times import utcnow
from services.hosting.fleet import LiveEndpoint, LiveVariant
from services.hosting.models import Endpoint, EndpointConfig, EndpointStatus, ProductionVariant
from services.hosting.service import HostingService
from services.hosting.target_model import MULTI_MODEL_ENV
from services.inference.artifacts import ArtifactCache, extract_model
from services.inference.instance import ENDPOINT_LOG_GROUP, ContainerSpec, Instance
from services.inference.model_code import fetch_model_code, serving_image
from services.runners.base import Runner
from services.runners.images import known_images

log = logging.getLogger(__name__)

REASON_MAX = 1024


class HostingManager:
    """Owns the live endpoints of this node."""

    def __init__(self, hosting: HostingService, s3: S3Adapter, logs: LogsAdapter, runner: Runner, root: Path, *,
                 health_timeout: float = 600.0, drain_timeout: float = 60.0, stop_grace: float = 10.0,
                 invoke_timeout: float = 60.0) -> None:
        self.hosting = hosting
        self.logs = logs
        self.runner = runner
        self.root = root
        self.health_timeout = health_timeout
        self.drain_timeout = drain_timeout
        self.stop_grace = stop_grace
        self.invoke_timeout = invoke_timeout
        self.artifacts = ArtifactCache(s3, root / "artifacts")
        self.live: dict[str, LiveEndpoint] = {}
        # Endpoints being brought back at start: serving by their status, but with no fleet yet.
        self.restoring: dict[str, asyncio.Event] = {}
        self.session: aiohttp.ClientSession | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._ops: set[asyncio.Task[None]] = set()
        self._retiring: set[Instance] = set()

    async def start(self) -> None:
        """Open the HTTP session, take over the control plane's fleet, restore serving endpoints."""
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30))
        self.hosting.fleet = self
        for endpoint in await self.hosting.endpoints.list():
            if endpoint.endpoint_status is EndpointStatus.DELETING:
                self.delete(endpoint.endpoint_name)
            elif endpoint.endpoint_status is not EndpointStatus.FAILED:
                self.restoring[endpoint.endpoint_name] = asyncio.Event()
                self._run(endpoint.endpoint_name, self._restore(endpoint.endpoint_name))

    async def live_endpoint(self, name: str, wait: float) -> LiveEndpoint | None:
        """The fleet serving ``name``; waits up to ``wait`` s for one being brought back after a restart."""
        restoring = self.restoring.get(name)
        if restoring is not None and name not in self.live:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(restoring.wait(), wait)
        return self.live.get(name)

    async def close(self) -> None:
        """Cancel pending operations and stop every instance this manager started."""
        self.hosting.fleet = None
        for task in list(self._ops):
            task.cancel()
        await asyncio.gather(*self._ops, return_exceptions=True)
        instances = [i for live in self.live.values() for i in live.instances()] + list(self._retiring)
        self.live.clear()
        await asyncio.gather(*(i.stop(self.stop_grace) for i in instances), return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    async def idle(self) -> None:
        """Wait until no operation is pending (tests and the CLI use it)."""
        while self._ops:
            await asyncio.gather(*list(self._ops), return_exceptions=True)

    # ------------------------------------------------- FleetController protocol

    def deploy(self, endpoint: str) -> None:
        """Build the endpoint's fleet; ``InService`` when healthy, else ``Failed``."""
        self._run(endpoint, self._deploy(endpoint))

    def update(self, endpoint: str, config: str) -> None:
        """Blue/green to ``config``."""
        self._run(endpoint, self._update(endpoint, config))

    def reweight(self, endpoint: str, desired: list[dict[str, Any]]) -> None:
        """Apply ``DesiredWeightsAndCapacities``."""
        self._run(endpoint, self._reweight(endpoint, desired))

    def delete(self, endpoint: str) -> None:
        """Drain and stop the fleet, then remove the endpoint."""
        self._run(endpoint, self._delete(endpoint))

    # ---------------------------------------------------------------- internals

    def _run(self, endpoint: str, op: Awaitable[None]) -> None:
        lock = self._locks.setdefault(endpoint, asyncio.Lock())

        async def serialized() -> None:
            async with lock:
                try:
                    await op
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - one endpoint's bug must not stop the others
                    log.exception("hosting operation on %s failed", endpoint)

        task = asyncio.create_task(serialized(), name=f"hosting-{endpoint}")
        self._ops.add(task)
        task.add_done_callback(self._ops.discard)

    async def _restore(self, name: str) -> None:
        try:
            await self._deploy(name)
        finally:
            self.restoring.pop(name).set()

    async def _deploy(self, name: str) -> None:
        endpoint = await self.hosting.describe_endpoint(name)
        config = await self.hosting.describe_endpoint_config(endpoint.endpoint_config_name)
        # Restored after a restart: the counts the endpoint was scaled or reweighted to, not the config's.
        counts = {v.variant_name: v.desired_instance_count or v.current_instance_count
                  for v in endpoint.production_variants or [] if v.desired_instance_count or v.current_instance_count}
        try:
            live = await self._build(name, config, counts)
        except JobFailed as err:
            await self._report(name, EndpointStatus.FAILED, failure=str(err))
            return
        old = self.live.get(name)
        self.live[name] = live
        await self._report(name, EndpointStatus.IN_SERVICE, live=live)
        if old is not None:
            await self._retire(old.instances())

    async def _update(self, name: str, config_name: str) -> None:
        old = self.live.get(name)
        try:
            config = await self.hosting.describe_endpoint_config(config_name)
            live = await self._build(name, config)
        except JobFailed as err:
            # The old fleet never stopped serving; the endpoint stays on its config.
            await self._report(name, EndpointStatus.IN_SERVICE, failure=f"Update failed: {err}", live=old)
            return
        self.live[name] = live  # traffic moves here, in one step
        if old is not None:
            await self._retire(old.instances())
        await self._report(name, EndpointStatus.IN_SERVICE, live=live)

    async def _reweight(self, name: str, desired: list[dict[str, Any]]) -> None:
        live = self.live.get(name)
        if live is None:
            await self._report(name, EndpointStatus.FAILED, failure="The endpoint has no running fleet.")
            return
        failure = None
        for d in desired:
            variant = live.variants[d["VariantName"]]
            if "DesiredWeight" in d:
                variant.weight = float(d["DesiredWeight"])
            if "DesiredInstanceCount" in d:
                try:
                    await self.scale(live, variant, int(d["DesiredInstanceCount"]))
                except JobFailed as err:
                    failure = f"Scaling variant {variant.name} failed: {err}"
        await self._report(name, EndpointStatus.IN_SERVICE, live=live, failure=failure)

    async def scale(self, live: LiveEndpoint, variant: LiveVariant, count: int) -> None:
        """Grow (new instances join once healthy) or shrink (extras drain, then stop) a variant."""
        current = [i for i in variant.instances if not i.stopping]
        if count > len(current):
            spec = _variant_spec(live.config, variant.name)
            new = await asyncio.gather(*(self._start_instance(live.name, spec, variant.model)
                                         for _ in range(count - len(current))), return_exceptions=True)
            started = [i for i in new if isinstance(i, Instance)]
            variant.instances = variant.instances + started
            errors = [e for e in new if isinstance(e, BaseException)]
            if errors:
                raise errors[0] if isinstance(errors[0], JobFailed) else JobFailed(str(errors[0]))
        elif count < len(current):
            extra = current[count:]
            variant.instances = [i for i in variant.instances if i not in extra]
            await self._retire(extra)

    async def _delete(self, name: str) -> None:
        live = self.live.pop(name, None)
        if live is not None:
            await self._retire(live.instances())
        await self.hosting.endpoints.delete(name)

    async def _build(self, name: str, config: EndpointConfig, counts: dict[str, int] | None = None) -> LiveEndpoint:
        """Start every instance of every variant and wait for all to be healthy; all or nothing.

        ``counts`` overrides production variants' ``InitialInstanceCount`` (a restored endpoint).
        """
        plans = [(v, False) for v in config.production_variants] + \
                [(v, True) for v in config.shadow_production_variants or []]
        models = {v.model_name: await self.hosting.describe_model(v.model_name or "") for v, _ in plans}

        def size(v: ProductionVariant, shadow: bool) -> int:
            return (None if shadow else (counts or {}).get(v.variant_name)) or v.initial_instance_count or 1

        jobs = [self._start_instance(name, v, models[v.model_name]) for v, shadow in plans
                for _ in range(size(v, shadow))]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        started = [r for r in results if isinstance(r, Instance)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await asyncio.gather(*(i.stop(self.stop_grace) for i in started), return_exceptions=True)
            err = errors[0]
            raise err if isinstance(err, JobFailed) else JobFailed(f"{type(err).__name__}: {err}")
        it = iter(started)
        now = utcnow()
        variants: dict[str, LiveVariant] = {}
        shadows: dict[str, LiveVariant] = {}
        for v, shadow in plans:
            model = models[v.model_name]
            images = [{"SpecifiedImage": c.image, "ResolvedImage": c.image, "ResolutionTime": now}
                      for c in model.pipeline()]
            lv = LiveVariant(v.variant_name, model, float(v.initial_variant_weight if v.initial_variant_weight
                                                             is not None else 1.0),
                             [next(it) for _ in range(size(v, shadow))], images)
            (shadows if shadow else variants)[v.variant_name] = lv
        return LiveEndpoint(name, config, variants, shadows)

    async def _start_instance(self, endpoint: str, variant: ProductionVariant, model: Any) -> Instance:
        ident = f"{endpoint}-{variant.variant_name}-{uuid.uuid4().hex[:8]}"
        root = (self.root / endpoint / ident).resolve()
        containers = []
        for n, c in enumerate(model.pipeline()):
            image = serving_image(c)
            if image is None:
                raise JobFailed(f"No container is known for image {c.image!r}. Built-in images: the SageMaker "
                                f"algorithm image URIs, or {', '.join(known_images())}")
            croot = root / f"c{n}"
            for d in ("model", "code", "output"):
                (croot / d).mkdir(parents=True, exist_ok=True)
            env = dict(c.environment or {})
            if c.mode == "MultiModel":  # ModelDataUrl is a prefix: models load on demand (services.hosting.multi_model)
                env[MULTI_MODEL_ENV] = "true"
            elif c.model_data_url:
                async with self.artifacts.archive(c.model_data_url) as archive:
                    await asyncio.to_thread(extract_model, archive, croot / "model")
            await fetch_model_code(self.artifacts.s3, c, croot / "code")  # a script-mode model's source
            containers.append(ContainerSpec(c.container_hostname or f"container-{n + 1}", image, env, croot))
        timeout = float(getattr(variant, "container_startup_health_check_timeout_in_seconds", None)
                        or self.health_timeout)
        instance = Instance(ident, root, containers, self.runner, self.logs, f"{ENDPOINT_LOG_GROUP}/{endpoint}",
                            f"{variant.variant_name}/{ident}", on_exit=lambda i: self._lost(endpoint, i))
        assert self.session is not None
        try:
            await instance.start(self.session, timeout)
        except BaseException:
            await instance.stop(self.stop_grace)
            raise
        return instance

    def _lost(self, endpoint: str, instance: Instance) -> None:
        """An instance's container exited on its own: replace it, as SageMaker replaces unhealthy hosts."""
        live = self.live.get(endpoint)
        variant = next((v for v in (live.variants | live.shadows).values() if instance in v.instances), None) \
            if live else None
        if live is None or variant is None:
            return

        async def replace() -> None:
            variant.instances = [i for i in variant.instances if i is not instance]
            instance.note(f"Headwater: the container of instance {instance.ident} exited unexpectedly; "
                          f"replacing the instance")
            await instance.stop(self.stop_grace)
            if self.live.get(endpoint) is not live:
                return  # an update or delete ran first and retired this fleet: a replacement would be orphaned
            await self._report_counts(endpoint, live)
            with contextlib.suppress(JobFailed):
                spec = _variant_spec(live.config, variant.name)
                new = await self._start_instance(endpoint, spec, variant.model)
                new.note(f"Headwater: instance {new.ident} replaces instance {instance.ident}, whose container exited")
                variant.instances = variant.instances + [new]
            await self._report_counts(endpoint, live)

        self._run(endpoint, replace())

    async def _report_counts(self, name: str, live: LiveEndpoint) -> None:
        """Write the variants' current instance counts to the endpoint; status and desired counts stay.

        The desired counts are kept because a restart restores an endpoint to them.
        """
        def edit(e: Endpoint) -> None:
            desired = {v.variant_name: v.desired_instance_count
                       for v in (e.production_variants or []) + (e.shadow_production_variants or [])}
            prod, shadow = live.summaries()
            for v in prod + shadow:
                v.desired_instance_count = desired.get(v.variant_name) or v.desired_instance_count
            e.production_variants = prod
            e.shadow_production_variants = shadow or None

        try:
            await self.hosting.transition(name, edit)
        except Exception:  # noqa: BLE001 - deleted meanwhile: nothing to report to
            log.warning("could not report instance counts of endpoint %s", name, exc_info=True)

    async def _retire(self, instances: list[Instance]) -> None:
        """Let in-flight requests finish (bounded), then stop the instances."""
        self._retiring.update(instances)
        await asyncio.gather(*(i.drain(self.drain_timeout) for i in instances))
        await asyncio.gather(*(i.stop(self.stop_grace) for i in instances), return_exceptions=True)
        self._retiring.difference_update(instances)

    async def _report(self, name: str, status: EndpointStatus, *, live: LiveEndpoint | None = None,
                      failure: str | None = None) -> None:
        def edit(e: Endpoint) -> None:
            e.endpoint_status = status
            e.failure_reason = failure[:REASON_MAX] if failure else None
            e.pending_deployment_summary = None
            e.headwater.pending_config = None
            if live is not None:
                e.endpoint_config_name = live.config.endpoint_config_name
                prod, shadow = live.summaries()
                e.production_variants = prod
                e.shadow_production_variants = shadow or None
                capture = live.config.data_capture_config
                e.data_capture_config = capture.summary() if capture is not None else None

        try:
            await self.hosting.transition(name, edit)
        except Exception:  # noqa: BLE001 - deleted meanwhile: nothing to report to
            log.warning("could not report %s on endpoint %s", status.value, name, exc_info=True)


def _variant_spec(config: EndpointConfig, name: str) -> ProductionVariant:
    return next(v for v in config.production_variants + (config.shadow_production_variants or [])
                if v.variant_name == name)

