"""The resources ``Search`` can find: one place where each kind says where its records come from.

A record source is ``async () -> list[dict]``: every resource of one kind as
its ``SearchRecord`` member (``TrainingJob``, ``TrialComponent``...) with
its ``Tags``, in a stable order (by name). A kind registers its source under
the ``Resource`` name botocore's model gives it; the operation modules that
own a kind offer theirs through a ``search_sources(services)`` function, so a
new kind (lineage, pipelines, feature groups) adds one function and is
searchable. A source reads its own kind's collections only, and the state
store answers a listing from the documents it already holds (one listing
call, reads of the changed ones), so a search never reads every document of
every kind.

A ``Resource`` botocore knows but Headwater has none of (``Pipeline``,
``FeatureGroup``...) has no source: its search answers no results.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from services.api.validation import load_service_model

RecordSource = Callable[[], Awaitable[list[dict[str, Any]]]]

# The SearchRecord member of a Resource, where the two names differ.
_RECORD_MEMBER = {"ExperimentTrial": "Trial", "ExperimentTrialComponent": "TrialComponent"}


class SearchableResources:
    """Resource name -> the source of its records."""

    def __init__(self) -> None:
        self._sources: dict[str, RecordSource] = {}
        self._record: StructureShape = load_service_model("sagemaker").shape_for("SearchRecord")

    def add(self, resource: str, source: RecordSource) -> None:
        """Serve ``Search(Resource=resource)`` from ``source``."""
        if resource in self._sources:
            raise ValueError(f"Search resource {resource} has a source already")
        if self.record_member(resource) is None:
            raise ValueError(f"SearchRecord has no member for resource {resource}")
        self._sources[resource] = source

    def source(self, resource: str) -> RecordSource | None:
        """The resource's source, or ``None`` where Headwater has no such resources."""
        return self._sources.get(resource)

    @property
    def resources(self) -> list[str]:
        """The resources with a source, sorted."""
        return sorted(self._sources)

    def record_member(self, resource: str) -> str | None:
        """The ``SearchRecord`` member a resource's results are in (``None``: botocore has none)."""
        member = _RECORD_MEMBER.get(resource, resource)
        return member if member in self._record.members else None

    def record_shape(self, resource: str) -> StructureShape | None:
        """The shape of that member."""
        member = self.record_member(resource)
        return None if member is None else self._record.members[member]


def conform(shape: Shape, value: Any) -> Any:
    """``value`` with only the members ``shape`` has, all the way down (a record holds more than its
    SearchRecord shape: Headwater's own fields, members of newer requests)."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {k: conform(shape.members[k], v) for k, v in value.items() if k in shape.members and v is not None}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [conform(shape.member, v) for v in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: conform(shape.value, v) for k, v in value.items()}
    return value


def with_tags(described: dict[str, Any], tags: list[dict[str, str]] | None) -> dict[str, Any]:
    """A Describe response as a search record: with the resource's ``Tags``."""
    return {**described, "Tags": list(tags or [])}
