"""Artifacts, actions and contexts: ``Create*``, ``Describe*``, ``List*``, ``Update*``, ``Delete*``.

The three kinds differ in what names them (an artifact by an id in its ARN,
its name optional; an action or a context by its name) and in a few
members; the rules are shared. A create by a user counts against
SageMaker's limits for user-created entities (``ResourceLimitExceeded``);
what Headwater records by itself (:mod:`services.lineage.recorder`) goes
through the ``ensure_*`` methods, which find an existing entity of the same
``SourceUri`` and type (SageMaker reuses entities rather than duplicating
them) and are idempotent under retries.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.core.exceptions import ResourceInUse, ResourceLimitExceeded, ResourceNotFound, ValidationException
from services.core.paging import page
from services.core.store import DocumentStore
from services.core.times import parse_time, utcnow
from services.lineage.models import ActionDoc, ArtifactDoc, ContextDoc, LineageEntity, arn_kind, digest
from services.lineage.stores import LineageStores

#: SageMaker's limits on user-created lineage entities (there are none on the ones it creates).
LIMITS = {"artifact": 6000, "action": 3000, "context": 500, "association": 6000}
#: ``List*``'s page size when the request names none.
DEFAULT_MAX_RESULTS = 10


@dataclass(frozen=True)
class Kind:
    """One entity kind: its ARN resource type, API noun, document model and members."""

    kind: str  # "artifact"
    noun: str  # "Artifact"
    model: type[LineageEntity]
    store: Callable[[LineageStores], DocumentStore[Any]]
    updatable: tuple[str, ...]  # the members ``Update*`` sets besides the properties

    def member(self, suffix: str) -> str:
        """``ArtifactType``, ``ActionName``..."""
        return f"{self.noun}{suffix}"


ARTIFACT = Kind("artifact", "Artifact", ArtifactDoc, lambda s: s.artifacts, ("ArtifactName",))
ACTION = Kind("action", "Action", ActionDoc, lambda s: s.actions, ("Description", "Status"))
CONTEXT = Kind("context", "Context", ContextDoc, lambda s: s.contexts, ("Description",))
KINDS = {k.kind: k for k in (ARTIFACT, ACTION, CONTEXT)}


class LineageEntities:
    """The three entity kinds over their stores."""

    def __init__(self, stores: LineageStores, *, region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.stores = stores
        self.region = region
        self.account_id = account_id
        self.clock = clock

    def arn(self, kind: str, name: str) -> str:
        """The ARN of entity ``name`` (an artifact's id) of ``kind``."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    @staticmethod
    def key(kind: Kind, name_or_arn: str) -> str:
        """The store key of an entity given by name or ARN."""
        parsed = arn_kind(name_or_arn)
        name = parsed[1] if parsed and parsed[0] == kind.kind else name_or_arn
        return name.lower()

    # --- create ----------------------------------------------------------------------------

    async def create(self, kind: Kind, params: dict[str, Any], *, auto: bool = False,
                     key: str | None = None) -> LineageEntity:
        """Create an entity from a ``Create*`` request; ``auto``: recorded by Headwater (no limit, and
        ``key`` names an artifact deterministically so that concurrent recorders make one)."""
        store = kind.store(self.stores)
        if kind is ARTIFACT:
            key = key or uuid.uuid4().hex
        else:
            key = self.key(kind, params[kind.member("Name")])
        if not auto and await self.stores.manual_count(kind.kind) >= LIMITS[kind.kind]:
            raise ResourceLimitExceeded(f"The account-level service limit 'Total number of {kind.kind}s' is "
                                        f"{LIMITS[kind.kind]} {kind.noun}s; delete some before creating more.")
        now = self.clock()
        doc = kind.model.model_validate({
            **{k: v for k, v in params.items() if k != "Tags"}, "Tags": params.get("Tags"),
            f"{kind.noun}Arn": self.arn(kind.kind, key), "CreationTime": now, "LastModifiedTime": now,
            "HeadwaterAutoCreated": auto})
        # A user's create is refused before it leaves an index entry; Headwater's own (auto) relies on the
        # conditional create below alone, having just looked the entity up.
        if not auto and await store.get(key) is not None:
            raise ValidationException(f"{kind.noun} already exists: {doc.arn}")
        # The index entry first: one left by a create that failed after it points at nothing, and is skipped.
        await self.stores.index_source(kind.kind, doc.source_uri, key)
        try:
            await store.create(key, doc)
        except ResourceInUse as err:
            raise ValidationException(f"{kind.noun} already exists: {doc.arn}") from err
        if not auto:
            await self.stores.mark_manual(kind.kind, key)
        return doc

    async def ensure(self, kind: Kind, params: dict[str, Any]) -> LineageEntity:
        """The entity of the request's ``SourceUri`` and type, created (uncounted) if there is none.

        Artifacts are found by ``SourceUri`` and type; actions and contexts by name. Safe to repeat and
        to race: the artifact a recorder creates has an id derived from its source and type."""
        store = kind.store(self.stores)
        uri, entity_type = params["Source"]["SourceUri"], params[kind.member("Type")]
        if kind is ARTIFACT:
            key = digest(f"{entity_type}|{uri}")
        else:
            key = self.key(kind, params[kind.member("Name")])
        # The key a recorder gives it first: one read finds what a recorder created (the common case).
        existing = await store.get(key)
        if existing is not None:
            return existing
        if kind is ARTIFACT:  # then one a user created of that source and type, which SageMaker reuses
            for found in await self._by_source(kind, uri, skip=key):
                if found.entity_type == entity_type:
                    return found
        try:
            return await self.create(kind, params, auto=True, key=key)
        except ValidationException:  # a concurrent recorder created it first
            return await self.describe(kind, key)

    # --- describe, list --------------------------------------------------------------------

    async def describe(self, kind: Kind, name_or_arn: str) -> LineageEntity:
        """The entity by name or ARN (an artifact by its ARN), or ``ResourceNotFound``."""
        found = await kind.store(self.stores).get(self.key(kind, name_or_arn))
        if found is None:
            raise ResourceNotFound(f"{kind.noun} {name_or_arn} does not exist.")
        return found

    async def find(self, kind: Kind, name_or_arn: str) -> LineageEntity | None:
        """The entity, or ``None``."""
        return await kind.store(self.stores).get(self.key(kind, name_or_arn))

    async def _by_source(self, kind: Kind, uri: str, skip: str | None = None) -> list[LineageEntity]:
        """The entities of source ``uri`` (but ``skip``, known absent): one listing, then their reads."""
        store = kind.store(self.stores)
        keys = [key for key in await self.stores.keys_of_source(kind.kind, uri) if key != skip]
        docs = await asyncio.gather(*(store.get(key) for key in keys))
        return [d for d in docs if d is not None and d.source_uri == uri]

    async def list(self, kind: Kind, params: dict[str, Any]) -> tuple[list[LineageEntity], str | None]:
        """Filter, sort and page as ``List*``: ``SourceUri`` (an index read), the type, creation times."""
        docs = await self._by_source(kind, params["SourceUri"]) if params.get("SourceUri") \
            else await kind.store(self.stores).list()
        after, before = parse_time(params.get("CreatedAfter")), parse_time(params.get("CreatedBefore"))
        wanted = params.get(kind.member("Type"))
        docs = [d for d in docs if (wanted is None or d.entity_type == wanted)
                and (after is None or d.creation_time > after) and (before is None or d.creation_time < before)]
        by_name = params.get("SortBy") == "Name"
        docs.sort(key=(lambda d: ((d.entity_name or "").lower(), d.arn)) if by_name
                  else (lambda d: (d.creation_time, d.arn)),
                  reverse=params.get("SortOrder", "Descending") == "Descending")
        return page(docs, int(params.get("MaxResults") or DEFAULT_MAX_RESULTS), params.get("NextToken"))

    # --- update, delete --------------------------------------------------------------------

    async def update(self, kind: Kind, name_or_arn: str, params: dict[str, Any]) -> LineageEntity:
        """``Update*``: the description, status or artifact name, properties added and removed."""
        current = await self.describe(kind, name_or_arn)
        now = self.clock()

        def edit(doc: Any) -> Any:
            for member in kind.updatable:
                if member in params:
                    setattr(doc, _field(member), params[member])
            if "Properties" in params or "PropertiesToRemove" in params:
                props = {**(doc.properties or {}), **(params.get("Properties") or {})}
                for removed in params.get("PropertiesToRemove") or []:
                    props.pop(removed, None)
                doc.properties = props
            doc.last_modified_time = now
            return doc

        _, after = await kind.store(self.stores).update(self.key(kind, current.arn), edit)
        return after

    async def delete(self, kind: Kind, name_or_arn: str) -> LineageEntity:
        """Remove the entity (the caller removes its associations)."""
        doc = await self.describe(kind, name_or_arn)
        key = self.key(kind, doc.arn)
        await kind.store(self.stores).delete(key)
        await self.stores.unindex_source(kind.kind, doc.source_uri, key)
        await self.stores.unmark_manual(kind.kind, key)
        return doc

    async def artifact_by_source(self, uri: str) -> LineageEntity:
        """``DeleteArtifact`` by ``Source.SourceUri``: the (first) artifact of that source."""
        found = sorted(await self._by_source(ARTIFACT, uri), key=lambda d: d.creation_time)
        if not found:
            raise ResourceNotFound(f"Artifact with SourceUri {uri} does not exist.")
        return found[0]


def _field(member: str) -> str:
    """The snake-case attribute of an API member."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in member).lstrip("_")
