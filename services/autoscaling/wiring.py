"""Building the autoscaling service over the state store, for :mod:`services.app`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from infra.settings import Settings
from services.autoscaling.models import ActivityLog, ScalableTarget, ScalingPolicy
from services.autoscaling.service import AutoScalingService
from services.aws.s3 import S3Adapter
from services.hosting.service import HostingService
from services.store import DocumentStore, S3Backend


def build_autoscaling(settings: Settings, s3: S3Adapter, hosting: HostingService,
                      clock: Callable[[], datetime]) -> AutoScalingService:
    """The Application Auto Scaling service and its three collections."""
    backend = S3Backend(s3, settings.system_bucket)
    return AutoScalingService(DocumentStore(backend, "autoscaling-targets", ScalableTarget, "Scalable target"),
                              DocumentStore(backend, "autoscaling-policies", ScalingPolicy, "Scaling policy"),
                              DocumentStore(backend, "autoscaling-activities", ActivityLog, "Scaling activity log"),
                              hosting, region=settings.region, account_id=settings.account_id, clock=clock)
