"""The lineage domain as the API and the recorders see it: entities, associations, the walk, tags.

Deleting an artifact, action or context deletes its associations with it,
so a walk never meets an association to nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.core.tags import TagAccess, document_tags
from services.core.times import utcnow
from services.lineage.entities import KINDS, Kind, LineageEntities
from services.lineage.graph import LineageGraph
from services.lineage.models import LineageEntity
from services.lineage.stores import LineageStores


class LineageService:
    """``*Artifact``, ``*Action``, ``*Context``, ``*Association`` and ``QueryLineage``."""

    def __init__(self, stores: LineageStores, *, region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.stores = stores
        self.entities = LineageEntities(stores, region=region, account_id=account_id, clock=clock)
        self.graph = LineageGraph(self.entities, clock)
        self.clock = clock

    @staticmethod
    def kind(kind: str) -> Kind:
        """The entity kind ``artifact``, ``action`` or ``context``."""
        return KINDS[kind]

    async def delete(self, kind: str, name_or_arn: str) -> LineageEntity:
        """``Delete*``: the entity and its associations."""
        doc = await self.entities.describe(KINDS[kind], name_or_arn)
        await self.graph.detach(doc.arn)
        return await self.entities.delete(KINDS[kind], doc.arn)

    async def delete_artifact(self, params: dict[str, Any]) -> LineageEntity:
        """``DeleteArtifact`` by ``ArtifactArn`` or by ``Source.SourceUri``."""
        if params.get("ArtifactArn"):
            return await self.delete("artifact", params["ArtifactArn"])
        doc = await self.entities.artifact_by_source((params.get("Source") or {}).get("SourceUri", ""))
        return await self.delete("artifact", doc.arn)

    def tag_access(self, kind: str) -> TagAccess:
        """Tags of ``artifact``, ``action`` or ``context`` entities, found by the name in their ARN."""
        spec = KINDS[kind]

        async def find(name: str) -> Any:
            return await self.entities.describe(spec, name)

        return document_tags(spec.store(self.stores), find, lambda doc: self.entities.key(spec, doc.arn))
