"""Building the hosting service over the state store, for :mod:`services.app`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from infra.settings import Settings
from services.aws.s3 import S3Adapter
from services.hosting.models import Endpoint, EndpointConfig, Model
from services.hosting.service import HostingService
from services.store import DocumentStore, S3Backend
from services.tags import TagService
from services.training import Publisher


def build_hosting(settings: Settings, s3: S3Adapter, publisher: Publisher, tags: TagService,
                  clock: Callable[[], datetime]) -> HostingService:
    """The hosting service, its three collections, and its tag access for ``model``,
    ``endpoint-config`` and ``endpoint`` ARNs."""
    backend = S3Backend(s3, settings.system_bucket)
    hosting = HostingService(DocumentStore(backend, "models", Model, "Model"),
                             DocumentStore(backend, "endpoint-configs", EndpointConfig, "Endpoint config"),
                             DocumentStore(backend, "endpoints", Endpoint, "Endpoint"),
                             publisher, region=settings.region, account_id=settings.account_id, clock=clock)
    tags.register("model", hosting.tag_access(hosting.models, "Model"))
    tags.register("endpoint-config", hosting.tag_access(hosting.configs, "Endpoint config"))
    tags.register("endpoint", hosting.tag_access(hosting.endpoints, "Endpoint"))
    return hosting
