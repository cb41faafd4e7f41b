"""Where lineage lives in the state store, and the two small indexes beside it.

Artifacts are stored by the id in their ARN, actions and contexts by their
name (lower-cased: ARNs carry names lower-cased, and names are unique
without regard to case). An association is stored twice, under
``<source>/<destination>`` and, in the reverse index, under
``<destination>/<source>`` (digests of the ARNs), so the associations from
or to one entity are one listing of a prefix: a walk reads what it
reaches, never the whole graph. The source index lists the entities of a
``SourceUri`` the same way; the manual index counts what users created,
which SageMaker's limits apply to (what SageMaker creates by itself is not
limited).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.core.exceptions import ResourceInUse
from services.core.store import DocumentStore
from services.lineage.models import ActionDoc, ArtifactDoc, Association, ContextDoc, JobComponent, SourceRef, digest

StoreFactory = Callable[[str, type[Any], str], DocumentStore[Any]]


@dataclass(frozen=True)
class LineageStores:
    """The collections of the lineage domain."""

    artifacts: DocumentStore[ArtifactDoc]
    actions: DocumentStore[ActionDoc]
    contexts: DocumentStore[ContextDoc]
    components: DocumentStore[JobComponent]
    associations: DocumentStore[Association]
    incoming: DocumentStore[Association]  # the same documents, keyed destination first
    sources: DocumentStore[SourceRef]
    manual: DocumentStore[SourceRef]

    @classmethod
    def build(cls, store: StoreFactory) -> LineageStores:
        """The collections, from the composition root's ``store(collection, model, kind)``."""
        return cls(artifacts=store("lineage-artifacts", ArtifactDoc, "Artifact"),
                   actions=store("lineage-actions", ActionDoc, "Action"),
                   contexts=store("lineage-contexts", ContextDoc, "Context"),
                   components=store("lineage-trial-components", JobComponent, "Trial component"),
                   associations=store("lineage-associations", Association, "Association"),
                   incoming=store("lineage-associations-in", Association, "Association"),
                   sources=store("lineage-sources", SourceRef, "Lineage source index entry"),
                   manual=store("lineage-manual", SourceRef, "Lineage limit entry"))

    # --- the source index -----------------------------------------------------------------

    @staticmethod
    def _source_key(kind: str, uri: str, key: str) -> str:
        return f"{kind}/{digest(uri)}/{key}"

    async def index_source(self, kind: str, uri: str, key: str) -> None:
        """Record that entity ``key`` of ``kind`` has ``SourceUri`` ``uri`` (already recorded is fine)."""
        await _create_once(self.sources, self._source_key(kind, uri, key), SourceRef(key=key))

    async def unindex_source(self, kind: str, uri: str, key: str) -> None:
        """Forget the entry (absent is fine)."""
        await self.sources.delete(self._source_key(kind, uri, key))

    async def keys_of_source(self, kind: str, uri: str) -> list[str]:
        """The store keys of the ``kind`` entities with ``SourceUri`` ``uri``: one listing, no read (an entry's
        name ends with the key it holds)."""
        under = f"{self.sources.collection}/{self._source_key(kind, uri, '')}"
        return [key[len(under):].removesuffix(".json") for key in await self.sources.backend.keys(under)]

    # --- what users created, for the limits -----------------------------------------------

    @staticmethod
    def _manual_key(kind: str, key: str) -> str:
        return f"{kind}/{key.replace('/', '-')}"

    async def mark_manual(self, kind: str, key: str) -> None:
        """Count entity ``key`` of ``kind`` against the user's limit."""
        await _create_once(self.manual, self._manual_key(kind, key), SourceRef(key=key))

    async def unmark_manual(self, kind: str, key: str) -> None:
        """Stop counting it (absent is fine)."""
        await self.manual.delete(self._manual_key(kind, key))

    async def manual_count(self, kind: str) -> int:
        """How many ``kind`` entities users created: one listing, no document read."""
        return len(await self.manual.backend.keys(f"{self.manual.collection}/{kind}/"))


async def _create_once(store: DocumentStore[Any], key: str, doc: Any) -> None:
    try:
        await store.create(key, doc)
    except ResourceInUse:
        pass  # written by an earlier attempt: index entries are idempotent
