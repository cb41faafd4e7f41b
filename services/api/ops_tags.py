"""Tagging operations for every resource kind."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.server import AwsJsonService


def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register AddTags, ListTags, DeleteTags."""
    tags = services.tags

    @api.operation("AddTags")
    async def add_tags(params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": await tags.add_tags(params["ResourceArn"], params["Tags"])}

    @api.operation("ListTags")
    async def list_tags(params: dict[str, Any]) -> dict[str, Any]:
        # Tags are few per resource: one page, no NextToken.
        return {"Tags": await tags.list_tags(params["ResourceArn"])}

    @api.operation("DeleteTags")
    async def delete_tags(params: dict[str, Any]) -> dict[str, Any]:
        await tags.delete_tags(params["ResourceArn"], params["TagKeys"])
        return {}
