"""Declaring handlers and their triggers, in one place.

``@handler(name, trigger)`` registers an ``async def handle(event, deps)``.
The registry is also the manifest ``infra`` provisions from: each handler
gets its own queue (with a dead-letter queue) and, for event triggers, a rule
whose target is that queue. Wiring and code cannot drift apart.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from handlers.events import ObjectCreated, StateChangeEvent

if TYPE_CHECKING:
    from handlers.deps import Deps
    from services.core.settings import Settings

HandlerFunc = Callable[[Any, "Deps"], Awaitable[Any]]


@dataclass(frozen=True)
class OnObjectCreated:
    """S3 "Object Created" in a bucket, through EventBridge (default bus).

    ``bucket`` names a :class:`Settings` attribute (``"data_bucket"``) so the
    manifest follows configuration; ``key`` is an EventBridge key filter such
    as ``{"wildcard": "datasets/*/train/*"}`` or ``{"prefix": "in/"}``.
    """

    bucket: str
    key: dict[str, str] | None = None
    event_model: type[BaseModel] = ObjectCreated
    bus: str = "default"

    def pattern(self, settings: Settings) -> dict[str, Any]:
        """The rule's event pattern."""
        detail: dict[str, Any] = {"bucket": {"name": [getattr(settings, self.bucket)]}}
        if self.key:
            detail["object"] = {"key": [self.key]}
        return {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail}


@dataclass(frozen=True)
class OnEvent:
    """Headwater's own events on its bus (``source`` = the configured event source).

    ``resources``: EventBridge filters on the event's ``resources`` (the ARNs it concerns), such as
    ``({"wildcard": "*/pipelines-*"},)`` for the jobs a pipeline started, whatever their kind.
    """

    detail_type: tuple[str, ...]
    detail: dict[str, Any] | None = None
    resources: tuple[dict[str, str], ...] | None = None
    event_model: type[BaseModel] = StateChangeEvent
    bus: str = "headwater"

    def pattern(self, settings: Settings) -> dict[str, Any]:
        """The rule's event pattern."""
        pattern: dict[str, Any] = {"source": [settings.event_source], "detail-type": list(self.detail_type)}
        if self.detail:
            pattern["detail"] = self.detail
        if self.resources:
            pattern["resources"] = list(self.resources)
        return pattern


@dataclass(frozen=True)
class OnS3Notification:
    """A direct S3 -> SQS bucket notification (no EventBridge)."""

    bucket: str
    prefix: str = ""
    suffix: str = ""
    event_model: type[BaseModel] = ObjectCreated


Trigger = OnObjectCreated | OnEvent | OnS3Notification


@dataclass(frozen=True)
class HandlerSpec:
    """A registered handler."""

    name: str
    func: HandlerFunc
    trigger: Trigger
    timeout_seconds: float = 60.0
    description: str = ""
    module: str = field(default="")

    @property
    def event_model(self) -> type[BaseModel]:
        """The typed model the handler receives."""
        return self.trigger.event_model


REGISTRY: dict[str, HandlerSpec] = {}


def handler(name: str, trigger: Trigger, *, timeout_seconds: float = 60.0) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register ``async def handle(event, deps)`` under ``name`` with its trigger."""

    def register(func: HandlerFunc) -> HandlerFunc:
        if name in REGISTRY and REGISTRY[name].func is not func:
            raise ValueError(f"handler {name!r} is registered twice")
        REGISTRY[name] = HandlerSpec(name=name, func=func, trigger=trigger, timeout_seconds=timeout_seconds,
                                     description=(func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "",
                                     module=func.__module__)
        return func

    return register


def load_handlers() -> dict[str, HandlerSpec]:
    """Import every ``handlers.on_*`` module so their decorators run; return the registry."""
    import handlers

    for info in pkgutil.iter_modules(handlers.__path__):
        if info.name.startswith("on_"):
            importlib.import_module(f"handlers.{info.name}")
    return REGISTRY
