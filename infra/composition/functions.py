"""Wiring the functions domain: the control plane, the Runtime API, the environments and the async queue."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from types import TracebackType

from infra.composition.services import Services
from services.aws.session import DUMMY_CREDENTIALS, AwsClients
from services.aws.sqs import ConsumerPolls
from services.core.settings import Settings
from services.core.store import DocumentStore
from services.functions.async_delivery import ASYNC_QUEUE, AsyncInvocations
from services.functions.bridge import FunctionBridge
from services.functions.event_sources import EventSourceMapping, SqsEventSources
from services.functions.invoker import Invoker
from services.functions.metrics import FunctionMetrics
from services.functions.models import FunctionDoc
from services.functions.names import parse_function_name
from services.functions.pool import EnvironmentPool
from services.functions.runtime_api import RuntimeApiServer
from services.functions.service import FunctionsService
from services.functions.settings_ops import FunctionSettings


@dataclass
class Functions:
    """The functions domain of one node; an async context manager that stops its environments."""

    service: FunctionsService
    settings: FunctionSettings
    runtime_api: RuntimeApiServer
    pool: EnvironmentPool
    invoker: Invoker
    async_invocations: AsyncInvocations
    event_sources: SqsEventSources
    bridge: FunctionBridge | None = None

    async def __aenter__(self) -> Functions:
        await self.runtime_api.start()
        self.service.on_change = self.pool.retire
        await self.service.resume()
        return self

    async def serve(self, stop: asyncio.Event) -> None:
        """Consume Event invocations, poll event sources, reap idle environments and put Lambda's metrics until
        ``stop`` is set."""
        loops = [self.async_invocations.run(stop), self.event_sources.run(stop), self.pool.run_reaper(stop),
                 self.invoker.metrics.run(stop)]
        if self.bridge is not None:
            loops.append(self.bridge.run(stop))
        await asyncio.gather(*loops)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        with contextlib.suppress(Exception):
            await self.async_invocations.close()
        await self.pool.close()
        with contextlib.suppress(Exception):
            await self.invoker.metrics.flush()  # what the last invocations counted
        await self.runtime_api.close()
        await self.service.close()


def build_functions(settings: Settings, services: Services, clients: AwsClients, *,
                    emulator_embedded: bool) -> Functions:
    """The functions domain over ``services``' adapters and the system bucket."""
    backend = services.training.store.backend  # the system bucket's document backend every service shares
    store: DocumentStore[FunctionDoc] = DocumentStore(backend, "functions", FunctionDoc, "Function")
    root = settings.state_dir / "functions"
    service = FunctionsService(store, services.s3, settings.system_bucket, root / "code", region=settings.region,
                               account_id=settings.account_id, clock=services.training.clock)
    runtime_api = RuntimeApiServer()
    pool = EnvironmentPool(runtime_api, services.logs, root / "logs", max_concurrency=settings.function_concurrency,
                           idle_seconds=settings.function_idle_seconds)
    # On an emulator a function falls back to the credentials every emulator takes when its role cannot be
    # assumed; on AWS it runs as its role or not at all.
    fallback = None if settings.is_real_aws else {"AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
                                                  "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"]}
    invoker = Invoker(service, pool, services.credentials, region=settings.region, base_env={},
                      fallback_credentials=fallback, metrics=FunctionMetrics(services.cloudwatch))
    async_invocations = AsyncInvocations(
        invoker, services.sqs, settings.queue_name(ASYNC_QUEUE), clients.events,
        polls=ConsumerPolls.choose(settings.poll_wait_seconds, emulator_embedded),
        concurrency=settings.function_concurrency, retry_seconds=settings.function_retry_seconds,
        visibility_timeout=settings.visibility_timeout, stop_grace_seconds=settings.stop_grace_seconds)
    mappings: DocumentStore[EventSourceMapping] = DocumentStore(backend, "event-source-mappings", EventSourceMapping,
                                                                "Event source mapping")
    event_sources = SqsEventSources(mappings, invoker, services.sqs, region=settings.region,
                                    account_id=settings.account_id, clock=services.training.clock,
                                    polls=ConsumerPolls.choose(settings.poll_wait_seconds, emulator_embedded))
    if services.pipelines is not None:
        # A pipeline's Lambda steps invoke the functions of this service, as its Invoke API does.
        async def invoke_function(function_arn: str, payload: bytes) -> tuple[bytes, str | None]:
            result = await invoker.invoke(parse_function_name(function_arn), payload)
            return result.payload, result.function_error

        services.pipelines.engine.invoke_function = invoke_function
    # On an external emulator (LocalStack) rules and notifications would invoke its own Lambda, which does not
    # have these functions: the bridge delivers them. The embedded one delivers in-process; AWS is left alone.
    bridge = None if emulator_embedded or settings.is_real_aws else FunctionBridge(
        service, clients.events, clients.s3, services.sqs, settings.queue_name(ASYNC_QUEUE), settings.resource_prefix,
        interval=settings.function_bridge_seconds)
    return Functions(service, FunctionSettings(service, settings.function_concurrency), runtime_api, pool, invoker,
                     async_invocations, event_sources, bridge)
