"""The Search operation over registered record sources: only the asked kind is read, records leave in
their SearchRecord shape, and a kind without a source answers no results."""

from __future__ import annotations

from typing import Any

import pytest

from services.api import ops_search
from services.api.search_resources import SearchableResources
from services.api.server import AwsJsonService
from services.core.exceptions import ValidationException


@pytest.fixture
def api() -> tuple[AwsJsonService, dict[str, int]]:
    reads: dict[str, int] = {}

    def source(kind: str, records: list[dict[str, Any]]) -> Any:
        async def read() -> list[dict[str, Any]]:
            reads[kind] = reads.get(kind, 0) + 1
            return records
        return read

    resources = SearchableResources()
    resources.add("TrainingJob", source("TrainingJob", [
        {"TrainingJobName": "a", "CreationTime": 1.0, "Headwater": {"worker": "w"}, "Tags": []},
        {"TrainingJobName": "b", "CreationTime": 2.0, "Tags": [{"Key": "k", "Value": "v"}]}]))
    resources.add("Endpoint", source("Endpoint", [{"EndpointName": "e"}]))
    service = AwsJsonService("sagemaker", "SageMaker")
    ops_search.register(service, resources)
    return service, reads


async def test_search_reads_only_the_asked_kind(api: tuple[AwsJsonService, dict[str, int]]) -> None:
    service, reads = api
    out = await service.invoke("Search", {"Resource": "TrainingJob"})
    assert reads == {"TrainingJob": 1}
    # newest first by default (no LastModifiedTime in these records: CreationTime); private members dropped
    assert out["Results"] == [{"TrainingJob": {"TrainingJobName": "b", "CreationTime": 2.0,
                                               "Tags": [{"Key": "k", "Value": "v"}]}},
                              {"TrainingJob": {"TrainingJobName": "a", "CreationTime": 1.0, "Tags": []}}]


async def test_bad_input_reads_nothing(api: tuple[AwsJsonService, dict[str, int]]) -> None:
    service, reads = api
    with pytest.raises(ValidationException, match="'Nope' is not a property of TrainingJob"):
        await service.invoke("Search", {"Resource": "TrainingJob", "SearchExpression": {
            "Filters": [{"Name": "Nope", "Value": "x"}]}})
    assert reads == {}


async def test_kinds_without_records(api: tuple[AwsJsonService, dict[str, int]]) -> None:
    service, reads = api
    for resource in ("FeatureGroup", "Image"):  # no source here; Image has no SearchRecord member at all
        out = await service.invoke("Search", {"Resource": resource})
        assert out == {"Results": [], "TotalHits": {"Value": 0, "Relation": "EqualTo"}}
    cross = await service.invoke("Search", {"Resource": "TrainingJob", "CrossAccountFilterOption": "CrossAccount"})
    assert cross["Results"] == [] and reads == {}


def test_a_resource_has_one_source() -> None:
    resources = SearchableResources()
    resources.add("Model", lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="has a source already"):
        resources.add("Model", lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="no member"):
        resources.add("Image", lambda: None)  # type: ignore[arg-type,return-value]
