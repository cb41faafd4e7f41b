"""The lineage service over the in-memory store: entities, associations, limits, and what SageMaker records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.core.exceptions import ResourceLimitExceeded, ResourceNotFound, ValidationException
from services.core.store import DocumentStore, MemoryBackend
from services.lineage import entities
from services.lineage.service import LineageService
from services.lineage.stores import LineageStores

HEAD = "arn:aws:sagemaker:us-east-1:123456789012"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def in_memory() -> LineageService:
    """A lineage service over the in-memory store, its clock a second further at each reading."""
    backend = MemoryBackend()
    stores = LineageStores.build(lambda collection, model, kind: DocumentStore(backend, collection, model, kind))
    return LineageService(stores, region="us-east-1", account_id="123456789012", clock=Clock())


@pytest.fixture
def lineage() -> LineageService:
    return in_memory()


def _artifact(uri: str, kind: str = "DataSet", **extra: Any) -> dict[str, Any]:
    return {"Source": {"SourceUri": uri}, "ArtifactType": kind, **extra}


async def test_entities_round_trip(lineage: LineageService) -> None:
    ent = lineage.entities
    art = await ent.create(lineage.kind("artifact"), _artifact("s3://b/data/", ArtifactName="data",
                                                                 Properties={"k": "v"}))
    assert art.arn.startswith(f"{HEAD}:artifact/")
    described = (await ent.describe(lineage.kind("artifact"), art.arn)).describe()
    assert described["ArtifactName"] == "data" and described["Properties"] == {"k": "v"}
    assert "HeadwaterAutoCreated" not in described and "Tags" not in described
    ctx = await ent.create(lineage.kind("context"), {"ContextName": "My-Endpoint", "ContextType": "Endpoint",
                                                     "Source": {"SourceUri": f"{HEAD}:endpoint/my-endpoint"}})
    assert ctx.arn == f"{HEAD}:context/my-endpoint"
    assert (await ent.describe(lineage.kind("context"), "my-endpoint")).entity_name == "My-Endpoint"
    assert (await ent.describe(lineage.kind("context"), ctx.arn)).entity_name == "My-Endpoint"
    with pytest.raises(ValidationException, match="already exists"):
        await ent.create(lineage.kind("context"), {"ContextName": "my-endpoint", "ContextType": "Endpoint",
                                                   "Source": {"SourceUri": "x"}})
    action = await ent.create(lineage.kind("action"), {"ActionName": "deploy", "ActionType": "ModelDeployment",
                                                       "Status": "InProgress", "Source": {"SourceUri": "cfg"},
                                                       "Properties": {"a": "1", "b": "2"}})
    updated = await ent.update(lineage.kind("action"), "deploy", {"Status": "Completed", "Properties": {"c": "3"},
                                                                  "PropertiesToRemove": ["a"]})
    assert (updated.status, updated.properties) == ("Completed", {"b": "2", "c": "3"})
    assert updated.last_modified_time > action.last_modified_time
    with pytest.raises(ResourceNotFound):
        await ent.describe(lineage.kind("action"), "nothing")


async def test_lists_filter_by_source_type_and_time_and_page(lineage: LineageService) -> None:
    kind = lineage.kind("artifact")
    made = [await lineage.entities.create(kind, _artifact(f"s3://b/{i}/", "Model" if i % 2 else "DataSet"))
            for i in range(5)]
    found, token = await lineage.entities.list(kind, {"SourceUri": "s3://b/3/"})
    assert [d.arn for d in found] == [made[3].arn] and token is None
    found, _ = await lineage.entities.list(kind, {"ArtifactType": "Model", "SortOrder": "Ascending"})
    assert [d.arn for d in found] == [made[1].arn, made[3].arn]
    found, _ = await lineage.entities.list(kind, {"CreatedAfter": made[2].creation_time})
    assert [d.arn for d in found] == [made[4].arn, made[3].arn]  # newest first by default
    first, token = await lineage.entities.list(kind, {"MaxResults": 2})
    second, _ = await lineage.entities.list(kind, {"MaxResults": 2, "NextToken": token})
    assert [d.arn for d in first + second] == [m.arn for m in reversed(made)][:4]


async def test_associations_need_both_ends_and_refuse_a_repeat(lineage: LineageService) -> None:
    kind = lineage.kind("artifact")
    a = await lineage.entities.create(kind, _artifact("s3://b/a/", ArtifactName="a"))
    b = await lineage.entities.create(kind, _artifact("s3://b/b/", "Model"))
    added = await lineage.graph.add({"SourceArn": a.arn, "DestinationArn": b.arn, "AssociationType": "Produced"})
    assert (added.source_type, added.destination_type, added.source_name) == ("DataSet", "Model", "a")
    with pytest.raises(ValidationException, match="already exists"):
        await lineage.graph.add({"SourceArn": a.arn, "DestinationArn": b.arn})
    with pytest.raises(ResourceNotFound):
        await lineage.graph.add({"SourceArn": a.arn, "DestinationArn": f"{HEAD}:artifact/nothing"})
    with pytest.raises(ValidationException, match="two experiment entities"):
        await lineage.graph.add({"SourceArn": f"{HEAD}:experiment-trial-component/x",
                                 "DestinationArn": f"{HEAD}:experiment/y"})
    assert [x.destination_arn for x in await lineage.graph.outgoing(a.arn)] == [b.arn]
    assert [x.source_arn for x in await lineage.graph.incoming(b.arn)] == [a.arn]
    listed, _ = await lineage.graph.list({"DestinationArn": b.arn, "SourceType": "DataSet"})
    assert len(listed) == 1
    assert (await lineage.graph.list({"DestinationArn": b.arn, "SourceType": "Model"}))[0] == []
    await lineage.graph.delete(a.arn, b.arn)
    assert await lineage.graph.outgoing(a.arn) == [] and await lineage.graph.incoming(b.arn) == []
    with pytest.raises(ResourceNotFound):
        await lineage.graph.delete(a.arn, b.arn)


async def test_an_arn_names_one_entity_whatever_its_case(lineage: LineageService) -> None:
    ctx = await lineage.entities.create(lineage.kind("context"), {"ContextName": "My-Endpoint", "ContextType": "e",
                                                                  "Source": {"SourceUri": "u"}})
    data = await lineage.entities.create(lineage.kind("artifact"), _artifact("s3://b/a/"))
    await lineage.graph.add({"SourceArn": data.arn, "DestinationArn": f"{HEAD}:context/My-Endpoint"})
    found = await lineage.graph.query_lineage({"StartArns": [ctx.arn], "Direction": "Ascendants"})
    assert [v["Arn"] for v in found["Vertices"]] == [ctx.arn, data.arn]
    assert (await lineage.graph.list({"DestinationArn": f"{HEAD}:context/MY-ENDPOINT"}))[0][0].source_arn == data.arn
    await lineage.graph.delete(data.arn, f"{HEAD}:context/my-ENDPOINT")
    assert await lineage.graph.incoming(ctx.arn) == []


async def test_deleting_an_entity_deletes_its_associations(lineage: LineageService) -> None:
    kind = lineage.kind("artifact")
    a = await lineage.entities.create(kind, _artifact("s3://b/a/"))
    b = await lineage.entities.create(kind, _artifact("s3://b/b/"))
    await lineage.graph.add({"SourceArn": a.arn, "DestinationArn": b.arn})
    await lineage.delete_artifact({"Source": {"SourceUri": "s3://b/b/"}})
    assert await lineage.graph.outgoing(a.arn) == []
    assert (await lineage.entities.list(kind, {"SourceUri": "s3://b/b/"}))[0] == []
    with pytest.raises(ResourceNotFound):
        await lineage.graph.query_lineage({"StartArns": [b.arn]})


async def test_limits_count_what_users_create_only(lineage: LineageService,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(entities.LIMITS, "context", 2)
    kind = lineage.kind("context")
    for name in ("c1", "c2"):
        await lineage.entities.create(kind, {"ContextName": name, "ContextType": "t", "Source": {"SourceUri": "u"}})
    with pytest.raises(ResourceLimitExceeded):
        await lineage.entities.create(kind, {"ContextName": "c3", "ContextType": "t", "Source": {"SourceUri": "u"}})
    await lineage.entities.ensure(kind, {"ContextName": "auto", "ContextType": "t", "Source": {"SourceUri": "u"}})
    await lineage.delete("context", "c1")
    await lineage.entities.create(kind, {"ContextName": "c3", "ContextType": "t", "Source": {"SourceUri": "u"}})
