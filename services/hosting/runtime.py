"""Hosting in a node: the manager, data capture, shadow statistics and the runtime's invoker.

An async context manager: entering starts the manager (restoring endpoints
that should be serving); leaving stops every instance it started and
uploads the capture still buffered, so nothing captured is lost on a clean
shutdown.
"""

from __future__ import annotations

from types import TracebackType

from services.aws.logs import LogsAdapter
from services.aws.s3 import S3Adapter
from services.core.settings import Settings
from services.hosting.capture import CaptureWriter
from services.hosting.invocation_metrics import InvocationMetrics
from services.hosting.invoke import EndpointInvoker
from services.hosting.manager import HostingManager
from services.hosting.multi_model import MultiModelRouter
from services.hosting.service import HostingService
from services.hosting.shadow import ShadowStats
from services.runners.base import Runner


class HostingRuntime:
    """Everything that serves endpoints in one node process."""

    def __init__(self, settings: Settings, hosting: HostingService, s3: S3Adapter, logs: LogsAdapter, runner: Runner,
                 **manager_options: float) -> None:
        self.capture = CaptureWriter(s3, max_buffered_bytes=settings.capture_buffer_mb * 1024 * 1024)
        self.shadows = ShadowStats()
        options = {"stop_grace": settings.stop_grace_seconds, **manager_options}
        self.manager = HostingManager(hosting, s3, logs, runner, settings.state_dir / "endpoints", **options)
        self.metrics = InvocationMetrics(settings.autoscaling_metric_period_seconds,
                                         keep=4 * max(settings.autoscaling_scale_out_periods,
                                                      settings.autoscaling_scale_in_periods))
        self.multi_model = MultiModelRouter(s3, limit=settings.max_loaded_models)
        self.invoker = EndpointInvoker(self.manager, self.capture, self.shadows, region=settings.region,
                                       account_id=settings.account_id, metrics=self.metrics,
                                       multi_model=self.multi_model,
                                       max_shadow_in_flight=settings.shadow_max_in_flight)

    async def __aenter__(self) -> HostingRuntime:
        await self.manager.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            await self.manager.close()
        finally:
            await self.capture.close()
