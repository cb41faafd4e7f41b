"""``Search``: resources of one kind that satisfy a ``SearchExpression``, sorted and paged.

The expression is parsed against the resource's ``SearchRecord`` shape
(:mod:`services.api.search_expression`) before any record is read, so bad
input costs nothing; then only the asked kind's records are read
(:mod:`services.api.search_resources`), matched, sorted by ``SortBy``
(SageMaker's default: ``LastModifiedTime``, here ``CreationTime`` for a
record without one; ``Descending`` unless asked) and paged. Results are
in the ``SearchRecord`` shape, with ``TotalHits``.
"""

from __future__ import annotations

from typing import Any

from services.api.search_expression import ExpressionParser, sort_records
from services.api.search_paths import PropertyType
from services.api.search_resources import SearchableResources, conform
from services.api.server import AwsJsonService
from services.core.exceptions import ValidationException
from services.core.paging import page

DEFAULT_MAX_RESULTS = 10


def register(api: AwsJsonService, resources: SearchableResources) -> None:
    """Register ``Search`` over ``resources``."""

    @api.operation("Search")
    async def search(params: dict[str, Any]) -> dict[str, Any]:
        resource = params["Resource"]
        member, shape = resources.record_member(resource), resources.record_shape(resource)
        if member is None or shape is None:  # a resource SearchRecord has no member for: nothing to find
            return {"Results": [], "TotalHits": {"Value": 0, "Relation": "EqualTo"}}
        parser = ExpressionParser(resource, shape)
        expression = parser.parse(params["SearchExpression"]) if "SearchExpression" in params else None
        if sort_by := params.get("SortBy"):
            order = [parser.path(sort_by)]
            if order[0].type is PropertyType.CONTAINER:
                raise ValidationException(f"SortBy '{sort_by}' is a structured property of {resource}; sort by "
                                          f"one of its values")
        else:  # SageMaker's default, LastModifiedTime; CreationTime for a record without one
            order = [parser.path(m) for m in ("LastModifiedTime", "CreationTime") if m in shape.members]
        source = resources.source(resource)
        # CrossAccount: only what other accounts made discoverable to this one, and none does.
        if source is None or params.get("CrossAccountFilterOption") == "CrossAccount":
            records: list[dict[str, Any]] = []
        else:
            records = await source()
        matched = [r for r in records if expression is None or expression.matches(r)]
        if order:
            matched = sort_records(matched, order, descending=params.get("SortOrder", "Descending") == "Descending")
        chunk, token = page(matched, int(params.get("MaxResults", DEFAULT_MAX_RESULTS)), params.get("NextToken"))
        out: dict[str, Any] = {"Results": [{member: conform(shape, r)} for r in chunk],
                               "TotalHits": {"Value": len(matched), "Relation": "EqualTo"}}
        if token:
            out["NextToken"] = token
        return out
