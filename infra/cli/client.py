"""What the CLI commands that talk to a running node share: a client for one of its endpoints, and tables."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiobotocore.session import get_session

from infra.cli.endpoints import settings_for_client
from services.aws.session import node_client_kwargs
from services.core.settings import Settings


@contextlib.asynccontextmanager
async def node_client(settings: Settings, service: str, endpoint: str) -> AsyncIterator[Any]:
    """An aiobotocore ``service`` client for the node under ``settings.state_dir``, on its ``endpoint``
    (a key of ``endpoints.json``: ``sagemaker``, ``autoscaling``...)."""
    settings, endpoints = settings_for_client(settings.state_dir, settings.aws_endpoint)
    kwargs = node_client_kwargs(settings, service, endpoints[endpoint])
    async with get_session().create_client(service, **kwargs) as client:
        yield client


def sagemaker_client(settings: Settings) -> contextlib.AbstractAsyncContextManager[Any]:
    """An aiobotocore ``sagemaker`` client for the node under ``settings.state_dir``."""
    return node_client(settings, "sagemaker", "sagemaker")


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Rows (the first is the header) in left-aligned columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
