"""Associations (``AddAssociation``, ``DeleteAssociation``, ``ListAssociations``) and ``QueryLineage``.

An association may name an artifact, an action or a context, which must
exist (``ResourceNotFound``), or a trial component or an experiment, which
belong to Experiments: those are taken as named, and described from the
trial components Headwater records for its jobs (``<job>-aws-training-job``)
or from what a kind registered with :meth:`LineageGraph.register_kind`
says. SageMaker refuses an association between two experiment entities.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.core.exceptions import ResourceInUse, ResourceLimitExceeded, ResourceNotFound, ValidationException
from services.core.paging import page
from services.core.times import parse_time, utcnow
from services.lineage.entities import KINDS, LIMITS, LineageEntities
from services.lineage.models import (
    EXPERIMENT_KINDS,
    LINEAGE_TYPE_OF_KIND,
    Association,
    LineageEntity,
    LineageType,
    Vertex,
    arn_kind,
    canonical_arn,
    digest,
)
from services.lineage.query import DIRECTIONS, MAX_DEPTH, QueryFilters, query

#: ``QueryLineage``'s page size when the request names none: its maximum, because the SDK's
#: ``LineageQuery`` reads one page only.
QUERY_PAGE = 50
#: The trial components SageMaker creates for jobs, by name suffix, and their vertex type.
JOB_COMPONENT_SUFFIXES = {"-aws-training-job": "TrainingJob", "-aws-processing-job": "ProcessingJob",
                          "-aws-transform-job": "TransformJob"}
Describer = Callable[[str], Awaitable[Vertex | None]]


def job_component_type(name: str) -> str | None:
    """The vertex type of a trial component SageMaker named after a job (``TrainingJob``...), else ``None``."""
    return next((t for s, t in JOB_COMPONENT_SUFFIXES.items() if name.lower().endswith(s)), None)


@dataclass(frozen=True)
class End:
    """One end of an association a recorder writes, as the recorder knows it."""

    arn: str
    type: str | None
    name: str | None

    @classmethod
    def of(cls, entity: LineageEntity) -> End:
        """An artifact, action or context as an end."""
        return cls(entity.arn, entity.entity_type, entity.entity_name)

    @classmethod
    def component(cls, arn: str) -> End:
        """The trial component SageMaker names after a job, as :meth:`LineageGraph.vertex` describes it."""
        name = arn.rsplit("/", 1)[-1].lower()
        return cls(arn, job_component_type(name), name)


def _pair(source: str, destination: str) -> str:
    return f"{digest(source)}/{digest(destination)}"


class LineageGraph:
    """Associations and the walk over them."""

    def __init__(self, entities: LineageEntities, clock: Callable[[], datetime] = utcnow) -> None:
        self.entities = entities
        self.stores = entities.stores
        self.clock = clock
        self._kinds: dict[str, Describer] = {}

    def register_kind(self, kind: str, describe: Describer) -> None:
        """Describe (and check the existence of) ``kind`` entities (``experiment-trial-component``...)
        with ``describe``, which answers ``None`` for one it does not know (then the graph's own
        answer stands)."""
        self._kinds[kind] = describe

    # --- vertices --------------------------------------------------------------------------

    async def vertex(self, arn: str) -> Vertex | None:
        """What the graph knows of the entity ``arn``; ``None`` when it does not exist."""
        arn = canonical_arn(arn)
        parsed = arn_kind(arn)
        if parsed is None:
            return None
        kind, name = parsed
        if kind in KINDS:
            doc = await self.entities.find(KINDS[kind], arn)
            if doc is None:
                return None
            return Vertex(arn=doc.arn, lineage_type=LINEAGE_TYPE_OF_KIND[kind], type=doc.entity_type,
                          creation_time=doc.creation_time, last_modified_time=doc.last_modified_time,
                          properties=dict(doc.properties or {}))
        if kind in self._kinds and (found := await self._kinds[kind](arn)) is not None:
            return found
        if kind == "experiment-trial-component":
            # What the recorder wrote for a job: the Experiments record (registered above) may come later.
            component = await self.stores.components.get(name.lower())
            if component is not None:
                return Vertex(arn=arn, lineage_type=LineageType.TRIAL_COMPONENT, type=component.component_type,
                              creation_time=component.creation_time,
                              last_modified_time=component.last_modified_time)
            return Vertex(arn=arn, lineage_type=LineageType.TRIAL_COMPONENT, type=job_component_type(name))
        return Vertex(arn=arn, lineage_type=LINEAGE_TYPE_OF_KIND[kind], type=kind.title().replace("-", ""))

    async def _require(self, arn: str) -> Vertex:
        found = await self.vertex(arn)
        if found is None:
            raise ResourceNotFound(f"Lineage entity {arn} does not exist.")
        return found

    # --- associations ----------------------------------------------------------------------

    async def add(self, params: dict[str, Any], *, auto: bool = False) -> Association:
        """``AddAssociation``; ``auto`` (Headwater recording): an existing association is kept, uncounted."""
        source, destination = canonical_arn(params["SourceArn"]), canonical_arn(params["DestinationArn"])
        kinds = (arn_kind(source), arn_kind(destination))
        if None in kinds:
            raise ValidationException(f"Not a lineage entity ARN: {source if kinds[0] is None else destination}")
        if all(k is not None and k[0] in EXPERIMENT_KINDS for k in kinds):
            raise ValidationException("An association can't be created between two experiment entities "
                                      f"({source}, {destination}).")
        if source == destination:
            raise ValidationException(f"An association needs two entities; both are {source}.")
        existing = await self.stores.associations.get(_pair(source, destination))
        if existing is not None:
            if not auto:
                raise ValidationException(f"Association already exists from {source} to {destination} "
                                          f"({existing.association_type or 'no type'}).")
            await self._mirror(existing)  # an attempt that stopped between the two writes
            return existing
        src, dst = await self._require(source), await self._require(destination)
        if not auto and await self.stores.manual_count("association") >= LIMITS["association"]:
            raise ResourceLimitExceeded(f"The account-level service limit 'Total number of associations' is "
                                        f"{LIMITS['association']} associations; delete some before adding more.")
        association = Association(
            source_arn=source, destination_arn=destination, association_type=params.get("AssociationType"),
            source_type=src.type, destination_type=dst.type, source_name=await self._name(source),
            destination_name=await self._name(destination), creation_time=self.clock())
        try:
            await self.stores.associations.create(_pair(source, destination), association)
        except ResourceInUse:
            if not auto:
                raise ValidationException(f"Association already exists from {source} to {destination}.") from None
            association = await self.stores.associations.get(_pair(source, destination)) or association
        await self._mirror(association)
        if not auto:
            await self.stores.mark_manual("association", _pair(source, destination))
        return association

    async def record(self, links: Sequence[tuple[End, End, str]]) -> None:
        """Associations Headwater records by itself between ends the caller has just looked up or created
        (so they exist, and their types and names are known): written at once, reading neither end again;
        an association already there is kept as it is (a redelivered event), its mirror made sure of."""
        await asyncio.gather(*(self._record(source, destination, association_type)
                               for source, destination, association_type in links))

    async def _record(self, source: End, destination: End, association_type: str) -> None:
        key = _pair(canonical_arn(source.arn), canonical_arn(destination.arn))
        association = Association(
            source_arn=canonical_arn(source.arn), destination_arn=canonical_arn(destination.arn),
            association_type=association_type, source_type=source.type, destination_type=destination.type,
            source_name=source.name, destination_name=destination.name, creation_time=self.clock())
        try:
            await self.stores.associations.create(key, association)
        except ResourceInUse:  # recorded before: its mirror is the one stored (an attempt may have stopped)
            association = await self.stores.associations.get(key) or association
        await self._mirror(association)

    async def _mirror(self, association: Association) -> None:
        try:
            await self.stores.incoming.create(_pair(association.destination_arn, association.source_arn), association)
        except ResourceInUse:
            pass

    async def _name(self, arn: str) -> str | None:
        parsed = arn_kind(arn)
        if parsed is None:
            return None
        if parsed[0] in KINDS:
            doc = await self.entities.find(KINDS[parsed[0]], arn)
            return doc.entity_name if doc else None
        return parsed[1]

    async def delete(self, source: str, destination: str) -> Association:
        """``DeleteAssociation``, or ``ResourceNotFound``."""
        source, destination = canonical_arn(source), canonical_arn(destination)
        found = await self.stores.associations.get(_pair(source, destination))
        if found is None:
            raise ResourceNotFound(f"Association from {source} to {destination} does not exist.")
        await self.stores.incoming.delete(_pair(destination, source))
        await self.stores.associations.delete(_pair(source, destination))
        await self.stores.unmark_manual("association", _pair(source, destination))
        return found

    async def detach(self, arn: str) -> None:
        """Delete every association from or to ``arn`` (its entity is being deleted)."""
        for association in [*await self.outgoing(arn), *await self.incoming(arn)]:
            try:
                await self.delete(association.source_arn, association.destination_arn)
            except ResourceNotFound:
                pass

    async def outgoing(self, arn: str) -> list[Association]:
        """The associations whose source is ``arn``: one listing."""
        return await self.stores.associations.list(f"{digest(canonical_arn(arn))}/")

    async def incoming(self, arn: str) -> list[Association]:
        """The associations whose destination is ``arn``: one listing of the reverse index."""
        return await self.stores.incoming.list(f"{digest(canonical_arn(arn))}/")

    async def list(self, params: dict[str, Any]) -> tuple[list[Association], str | None]:
        """``ListAssociations``: by source or destination from the indexes, then the other filters."""
        if params.get("SourceArn"):
            found = await self.outgoing(params["SourceArn"])
        elif params.get("DestinationArn"):
            found = await self.incoming(params["DestinationArn"])
        else:
            found = await self.stores.associations.list()
        after, before = parse_time(params.get("CreatedAfter")), parse_time(params.get("CreatedBefore"))
        wanted = {k: canonical_arn(params[k]) if k.endswith("Arn") else params[k]
                  for k in ("SourceArn", "DestinationArn", "SourceType", "DestinationType", "AssociationType")
                  if params.get(k)}
        found = [a for a in found if all(getattr(a, _ATTR[k]) == v for k, v in wanted.items())
                 and (after is None or a.creation_time > after) and (before is None or a.creation_time < before)]
        sort_by = _ATTR.get(params.get("SortBy") or "CreationTime", "creation_time")
        found.sort(key=lambda a: (getattr(a, sort_by) or "", a.source_arn, a.destination_arn)
                   if sort_by != "creation_time" else (a.creation_time, a.source_arn, a.destination_arn),
                   reverse=params.get("SortOrder", "Descending") == "Descending")
        return page(found, int(params.get("MaxResults") or 10), params.get("NextToken"))

    # --- QueryLineage ----------------------------------------------------------------------

    async def query_lineage(self, params: dict[str, Any]) -> dict[str, Any]:
        """``QueryLineage`` from its (one) start ARN; see :mod:`services.lineage.query`."""
        starts = params.get("StartArns") or []
        direction = params.get("Direction") or "Both"
        depth = params.get("MaxDepth", MAX_DEPTH)
        if direction not in DIRECTIONS:
            raise ValidationException(f"Direction must be one of {', '.join(DIRECTIONS)}")
        if not 0 <= int(depth) <= MAX_DEPTH:
            raise ValidationException(f"MaxDepth must be between 0 and {MAX_DEPTH}, not {depth}")
        if not starts:
            return {"Vertices": [], "Edges": []}
        start = canonical_arn(starts[0])
        await self._require(start)
        vertices, edges = await query(start, direction, int(depth), QueryFilters.from_request(params.get("Filters")),
                                      self.outgoing, self.incoming, self.vertex,
                                      keep_paths=bool(params.get("IncludeEdges")))
        chunk, token = page(vertices, int(params.get("MaxResults") or QUERY_PAGE), params.get("NextToken"))
        out: dict[str, Any] = {"Vertices": [v.to_api() for v in chunk],
                               # the edges (none unless asked for) come with the first page
                               "Edges": [e.edge() for e in edges] if not params.get("NextToken") else []}
        if token:
            out["NextToken"] = token
        return out


_ATTR = {"SourceArn": "source_arn", "DestinationArn": "destination_arn", "SourceType": "source_type",
         "DestinationType": "destination_type", "AssociationType": "association_type",
         "CreationTime": "creation_time"}
