"""``QueryLineage``'s walk: from a start entity along its associations, up, down or both ways.

``Ascendants`` follows associations backwards (from a destination to its
sources: what the start came from), ``Descendants`` forwards (what came of
it), ``Both`` does the two walks from the start and joins them; neither
turns round midway, so an endpoint's ascendants are its model, the job that
trained it and that job's data, never another model the data trained.
``MaxDepth`` counts associations from the start. Filters choose which
vertices are returned, never where the walk goes: an endpoint reaches its
datasets through the deployment, the model and the job, which a filter on
``DataSet`` artifacts leaves out of the answer. The start itself is a vertex
of the answer when it passes the filters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.core.times import parse_time
from services.lineage.models import Association, Vertex

Neighbours = Callable[[str], Awaitable[list[Association]]]
DIRECTIONS = ("Ascendants", "Descendants", "Both")
#: SageMaker's limit on ``MaxDepth``, and the depth walked when a query names none.
MAX_DEPTH = 10


@dataclass(frozen=True)
class QueryFilters:
    """``QueryLineage``'s ``Filters``: every one given must hold for a vertex to be returned."""

    types: frozenset[str] = frozenset()
    lineage_types: frozenset[str] = frozenset()
    created_before: datetime | None = None
    created_after: datetime | None = None
    modified_before: datetime | None = None
    modified_after: datetime | None = None
    properties: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_request(cls, filters: dict[str, Any] | None) -> QueryFilters:
        """The request's ``Filters`` member (absent: no filter)."""
        f = filters or {}
        return cls(types=frozenset(f.get("Types") or ()), lineage_types=frozenset(f.get("LineageTypes") or ()),
                   created_before=parse_time(f.get("CreatedBefore")), created_after=parse_time(f.get("CreatedAfter")),
                   modified_before=parse_time(f.get("ModifiedBefore")),
                   modified_after=parse_time(f.get("ModifiedAfter")),
                   properties=tuple(sorted((f.get("Properties") or {}).items())))

    def admits(self, vertex: Vertex) -> bool:
        """Whether ``vertex`` passes every filter (a time filter needs the vertex's time)."""
        if self.types and vertex.type not in self.types:
            return False
        if self.lineage_types and vertex.lineage_type.value not in self.lineage_types:
            return False
        for bound, when, before in ((self.created_before, vertex.creation_time, True),
                                    (self.created_after, vertex.creation_time, False),
                                    (self.modified_before, vertex.last_modified_time, True),
                                    (self.modified_after, vertex.last_modified_time, False)):
            if bound is not None and (when is None or (when >= bound if before else when <= bound)):
                return False
        return all(vertex.properties.get(k) == v for k, v in self.properties)


@dataclass(frozen=True)
class Walked:
    """An association the walk followed, and which way: ``up`` (destination to source) or ``down``."""

    association: Association
    way: str

    @property
    def near(self) -> str:
        """The end the walk came from."""
        return self.association.destination_arn if self.way == "up" else self.association.source_arn

    @property
    def far(self) -> str:
        """The end the walk went to."""
        return self.association.source_arn if self.way == "up" else self.association.destination_arn


async def walk(start: str, direction: str, max_depth: int, outgoing: Neighbours,
               incoming: Neighbours) -> tuple[list[str], list[Walked]]:
    """The ARNs reached from ``start`` (itself first, then by depth) and the associations followed.

    ``outgoing(arn)`` lists the associations whose source is ``arn``, ``incoming(arn)`` those whose
    destination is. Each level's neighbours are read together; a cycle ends where it meets a vertex
    already reached.
    """
    reached: dict[str, None] = {start: None}  # insertion-ordered set
    followed: list[Walked] = []
    ways = [("up", incoming)] if direction in ("Ascendants", "Both") else []
    if direction in ("Descendants", "Both"):
        ways.append(("down", outgoing))
    for way, neighbours in ways:
        seen = {start}
        level = [start]
        for _ in range(max_depth):
            if not level:
                break
            found = await asyncio.gather(*(neighbours(arn) for arn in level))
            following: list[str] = []
            for associations in found:
                for association in associations:
                    step = Walked(association, way)
                    followed.append(step)
                    if step.far not in seen:
                        seen.add(step.far)
                        following.append(step.far)
                        reached.setdefault(step.far, None)
            level = following
    return list(reached), followed


async def query(start: str, direction: str, max_depth: int, filters: QueryFilters, outgoing: Neighbours,
                incoming: Neighbours, vertex: Callable[[str], Awaitable[Vertex | None]], *,
                keep_paths: bool = False) -> tuple[list[Vertex], list[Association]]:
    """The vertices the walk reaches that pass ``filters``, in walk order; with ``keep_paths`` (the
    request's ``IncludeEdges``) also every vertex on a path from the start to one of them, and the
    associations of those paths.

    ``vertex(arn)`` describes a reached entity; one it cannot describe (deleted meanwhile) is left out.
    """
    arns, followed = await walk(start, direction, max_depth, outgoing, incoming)
    described = dict(zip(arns, await asyncio.gather(*(vertex(arn) for arn in arns))))
    matched = {arn for arn, v in described.items() if v is not None and filters.admits(v)}
    if not keep_paths:
        return [v for arn, v in described.items() if arn in matched and v is not None], []
    on_path = set(matched)
    grew = True
    while grew:  # a vertex leading (the way the walk went) to one on a path is on it too
        grew = False
        for step in followed:
            if step.far in on_path and step.near not in on_path:
                on_path.add(step.near)
                grew = True
    edges: dict[tuple[str, str], Association] = {}
    for step in followed:
        a = step.association
        if step.near in on_path and step.far in on_path and described.get(step.near) and described.get(step.far):
            edges.setdefault((a.source_arn, a.destination_arn), a)
    return [v for arn, v in described.items() if arn in on_path and v is not None], list(edges.values())
