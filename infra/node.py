"""One Headwater node: everything ``headwater up`` runs, in one process.

The embedded emulator (unless an AWS endpoint is given), provisioning, the
SageMaker-compatible control plane, the runtime and Lambda endpoints, the
handler runtime and a worker. ``endpoints.json`` is written once all of it
serves, and removed on a clean stop. A node bound beyond loopback without an
access token does not start; with one, every server it starts checks it
(:mod:`services.core.access`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from handlers.lambda_api import BuiltinHandlers
from handlers.registry import load_handlers
from handlers.runtime import HandlerRuntime
from infra.composition.functions import Functions, build_functions
from infra.composition.handlers import handler_deps
from infra.composition.services import Services, build_services
from infra.composition.workers import build_worker, job_runner, warm_pool
from infra.console.data import ConsoleData
from infra.console.server import ConsoleServer
from infra.emulator import EmbeddedEmulator
from infra.emulator_events import FunctionRoute, route_functions, unroute_functions
from infra.emulator_schedules import EmulatorSchedules
from infra.endpoint_variables import endpoint_variables
from infra.identity import ExecutionRole, execution_role
from infra.provision import provision
from infra.sdk_defaults import ENDPOINTS_KEY, write_sdk_defaults
from infra.stack import declare_stack
from services.api.access import access_middleware
from services.api.metrics_server import add_metrics_routes
from services.api.ops_autoscaling import build_autoscaling_api
from services.api.ops_lambda import LambdaApi
from services.api.runtime_server import RuntimeServer
from services.api.sagemaker_ops import build_sagemaker_service
from services.autoscaling.scaler import Scaler
from services.aws.session import AwsClients
from services.core.access import access_token, check_bind
from services.core.settings import Settings
from services.execution.worker import Worker
from services.functions.async_delivery import ASYNC_QUEUE
from services.hosting.runtime import HostingRuntime
from services.monitoring.scheduler import MonitoringScheduler
from services.pipelines.sweep import PipelineSweep
from services.retraining.watchdog import RetrainingWatchdog

log = logging.getLogger(__name__)


class HeadwaterNode:
    """An async context manager; ``await node.serve(stop)`` runs it until ``stop`` is set."""

    def __init__(self, settings: Settings, *, with_worker: bool = True, with_servers: bool = True,
                 on_line: Callable[[str, str], None] | None = None) -> None:
        self.settings = settings
        self.with_worker = with_worker
        self.with_servers = with_servers
        self.on_line = on_line
        self.emulator: EmbeddedEmulator | None = None
        self.endpoints: dict[str, str] = {}
        self.changes: list[str] = []
        self.execution_role: ExecutionRole | None = None  # the default role (emulators only) for `headwater env`
        self._stack = contextlib.AsyncExitStack()
        self._runners: list[web.AppRunner] = []
        self.services: Services | None = None
        self.runtime: HandlerRuntime | None = None
        self.worker: Worker | None = None
        self.hosting: HostingRuntime | None = None  # endpoints' fleets; stopped with the node
        self.runtime_server: RuntimeServer | None = None  # sagemaker-runtime: invocations
        self.functions: Functions | None = None  # user functions: the Lambda API's, their environments
        # The embedded emulator's rule targets and notifications that name functions, and its scheduled rules.
        self.function_route: FunctionRoute | None = None
        self.schedules: EmulatorSchedules | None = None
        self.console: ConsoleServer | None = None  # the web console, on loopback

    async def __aenter__(self) -> HeadwaterNode:
        try:
            await self._start()
        except BaseException:
            await self._close()
            raise
        return self

    async def _start(self) -> None:
        s = self.settings
        check_bind(s)  # before anything listens
        token = access_token(s)
        if s.aws_endpoint is None:
            self.emulator = EmbeddedEmulator(s.emulator_host, s.emulator_port, s.emulator_state_dir)
            url = await asyncio.to_thread(self.emulator.start)
            s = self.settings = s.model_copy(update={"aws_endpoint": url})
            self.function_route = FunctionRoute(s.queue_name(ASYNC_QUEUE), s.account_id, s.region)
            route_functions(self.function_route)
            self.schedules = EmulatorSchedules(self.emulator.gate)
        self.endpoints["aws"] = s.endpoint_url or "aws"
        clients = await self._stack.enter_async_context(AwsClients(s))
        handlers = load_handlers()
        self.changes = await provision(s, clients, declare_stack(s, handlers))
        self.execution_role = await execution_role(s, clients)
        self.services = build_services(s, clients)
        deps = handler_deps(self.services)
        embedded = self.emulator is not None
        self.runtime = HandlerRuntime(s, self.services.sqs, deps, handlers, emulator_embedded=embedded)
        self.functions = await self._stack.enter_async_context(
            build_functions(s, self.services, clients, emulator_embedded=embedded))
        if self.with_servers:
            self.hosting = await self._stack.enter_async_context(
                HostingRuntime(s, self.services.hosting, self.services.s3, self.services.logs, job_runner(s)))
            sagemaker_api = build_sagemaker_service(self.services)
            app = sagemaker_api.make_app()
            add_metrics_routes(app, self.services.experiments)  # sagemaker-metrics, beside the control plane
            self.endpoints["sagemaker"] = self.endpoints["metrics"] = await self._serve(app, s.sagemaker_port)
            self.runtime_server = RuntimeServer(s.region, s.account_id, self.hosting.invoker,
                                                self.hosting.shadows.report, access_token=token)
            port = await self.runtime_server.start(s.bind_host, s.runtime_port)
            self.endpoints["runtime"] = f"http://{s.bind_host}:{port}"
            lambda_arn = f"arn:aws:lambda:{s.region}:{s.account_id}:function"
            f = self.functions
            lambda_api = LambdaApi(BuiltinHandlers(deps, lambda_arn, self.services.sqs), f.service, f.settings,
                                   f.invoker, f.async_invocations, f.event_sources)
            self.endpoints["lambda"] = await self._serve(lambda_api.service.make_app(), s.lambda_port)
            self.endpoints["autoscaling"] = await self._serve(
                build_autoscaling_api(self.services.autoscaling).make_app(), s.autoscaling_port)
        # Built once the control plane listens: a job's code reaches it (SageMaker Experiments from a script).
        # One pool of warm templates for the node's job hosts; closed with the node.
        pool = warm_pool(s)
        if pool is not None:
            self._stack.push_async_callback(pool.close)
        self.worker = build_worker(self.services, on_line=self.on_line, emulator_embedded=embedded,
                                   control_plane=self.endpoints.get("sagemaker"), pool=pool)
        # A function's boto3 talks to this node: the endpoints are known once every server listens.
        self.functions.invoker.base_env.update(endpoint_variables(self.endpoints))
        if self.with_servers:
            # Pages over the same services the APIs serve: the console keeps no state of its own.
            self.console = ConsoleServer(ConsoleData(self.services, sagemaker_api, self.worker, self.runtime,
                                                     self.functions))
            self.endpoints["console"] = await self.console.start(s.console_port)

    async def _serve(self, app: web.Application, port: int) -> str:
        if (token := access_token(self.settings)) is not None:
            app.middlewares.append(access_middleware(token))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.bind_host, port)
        await site.start()
        self._runners.append(runner)
        host, real_port = runner.addresses[0][:2]  # the real port when 0 was asked
        return f"http://{host}:{real_port}"

    def write_endpoints(self) -> Path:
        """Write ``<state dir>/endpoints.json`` with the endpoints this node serves."""
        path = self.settings.endpoints_file
        path.parent.mkdir(parents=True, exist_ok=True)
        doc: dict[str, Any] = {**self.endpoints, "region": self.settings.region, "pid": os.getpid()}
        if self.execution_role is not None:
            doc.update(self.execution_role.as_json())
        if (defaults := write_sdk_defaults(self.settings)) is not None:
            doc[ENDPOINTS_KEY] = str(defaults)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.replace(path)  # readers never see a half-written file
        return path

    async def serve(self, stop: asyncio.Event) -> None:
        """Run the handler runtime and the worker until ``stop`` is set."""
        assert self.runtime is not None and self.worker is not None
        tasks = [asyncio.create_task(self.runtime.run(stop), name="handler-runtime")]
        if self.functions is not None:
            tasks.append(asyncio.create_task(self.functions.serve(stop), name="functions"))
        if self.with_worker:
            tasks.append(asyncio.create_task(self.worker.run(stop), name="worker"))
        if self.schedules is not None:
            tasks.append(asyncio.create_task(self.schedules.run(stop), name="rule-schedules"))
        if self.services is not None:
            # Schedules fire on this clock: moto fires no scheduled rules, and
            # LocalStack and AWS are served the same way.
            scheduler = MonitoringScheduler(self.services.monitoring, self.settings.monitoring_tick_seconds)
            tasks.append(asyncio.create_task(scheduler.run(stop), name="monitoring-scheduler"))
            watchdog = RetrainingWatchdog(self.services.retraining)
            tasks.append(asyncio.create_task(watchdog.run(stop), name="retraining-watchdog"))
            if self.services.pipelines is not None:
                # Resumes the executions a stopped node left mid-way; events move them otherwise.
                sweep = PipelineSweep(self.services.pipelines)
                tasks.append(asyncio.create_task(sweep.run(stop), name="pipeline-sweep"))
        if self.hosting is not None and self.services is not None:
            # Target tracking runs where invocations are counted: in the node serving the endpoints.
            s = self.settings
            scaler = Scaler(self.services.autoscaling, self.hosting.metrics, tick=s.autoscaling_tick_seconds,
                            scale_out_periods=s.autoscaling_scale_out_periods,
                            scale_in_periods=s.autoscaling_scale_in_periods)
            tasks.append(asyncio.create_task(scaler.run(stop), name="autoscaling"))
        await asyncio.gather(*tasks)

    async def _close(self) -> None:
        if self.console is not None:
            await self.console.close()  # first: its live streams read the services closed below
            self.console = None
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self.runtime_server is not None:
            await self.runtime_server.close(self.settings.stop_grace_seconds)
            self.runtime_server = None
        await self._stack.aclose()
        if self.function_route is not None:
            unroute_functions(self.function_route)
        if self.emulator is not None:
            await asyncio.to_thread(self.emulator.stop)
            self.emulator = None

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        path = self.settings.endpoints_file
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        await self._close()
