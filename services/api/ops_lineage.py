"""Lineage operations: artifacts, actions, contexts, associations and ``QueryLineage``."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.protocol import page_response
from services.api.server import AwsJsonService
from services.lineage.service import LineageService


def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register the ``*Artifact``, ``*Action``, ``*Context``, ``*Association`` and ``QueryLineage`` operations."""
    lineage = services.lineage
    for noun, kind, by in (("Artifact", "artifact", "ArtifactArn"), ("Action", "action", "ActionName"),
                           ("Context", "context", "ContextName")):
        _register_kind(api, lineage, noun, kind, by)

    @api.operation("DeleteArtifact")
    async def delete_artifact(params: dict[str, Any]) -> dict[str, Any]:
        return {"ArtifactArn": (await lineage.delete_artifact(params)).arn}

    @api.operation("AddAssociation")
    async def add_association(params: dict[str, Any]) -> dict[str, Any]:
        added = await lineage.graph.add(params)
        return {"SourceArn": added.source_arn, "DestinationArn": added.destination_arn}

    @api.operation("DeleteAssociation")
    async def delete_association(params: dict[str, Any]) -> dict[str, Any]:
        deleted = await lineage.graph.delete(params["SourceArn"], params["DestinationArn"])
        return {"SourceArn": deleted.source_arn, "DestinationArn": deleted.destination_arn}

    @api.operation("ListAssociations")
    async def list_associations(params: dict[str, Any]) -> dict[str, Any]:
        found, token = await lineage.graph.list(params)
        return page_response("AssociationSummaries", [a.to_api() for a in found], token)

    @api.operation("QueryLineage")
    async def query_lineage(params: dict[str, Any]) -> dict[str, Any]:
        return await lineage.graph.query_lineage(params)


def _register_kind(api: AwsJsonService, lineage: LineageService, noun: str, kind: str, by: str) -> None:
    """``Create<noun>``, ``Describe<noun>``, ``List<noun>s``, ``Update<noun>`` (and ``Delete<noun>`` but for
    artifacts, deleted by ARN or source) for one entity kind, named by ``by``."""
    spec = lineage.kind(kind)
    arn_member = f"{noun}Arn"

    async def create(params: dict[str, Any]) -> dict[str, Any]:
        return {arn_member: (await lineage.entities.create(spec, params)).arn}

    async def describe(params: dict[str, Any]) -> dict[str, Any]:
        return (await lineage.entities.describe(spec, params[by])).describe()

    async def list_kind(params: dict[str, Any]) -> dict[str, Any]:
        found, token = await lineage.entities.list(spec, params)
        return page_response(f"{noun}Summaries", [d.summary() for d in found], token)

    async def update(params: dict[str, Any]) -> dict[str, Any]:
        return {arn_member: (await lineage.entities.update(spec, params[by], params)).arn}

    async def delete(params: dict[str, Any]) -> dict[str, Any]:
        return {arn_member: (await lineage.delete(kind, params[by])).arn}

    api.operation(f"Create{noun}")(create)
    api.operation(f"Describe{noun}")(describe)
    api.operation(f"List{noun}s")(list_kind)
    api.operation(f"Update{noun}")(update)
    if kind != "artifact":
        api.operation(f"Delete{noun}")(delete)
