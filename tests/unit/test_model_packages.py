"""A CreateModel container that names a model package, resolved to the package's containers (no node)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.core.exceptions import ValidationException
from services.hosting.model_packages import resolve_containers
from services.inference.models import ContainerDefinition

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"
PACKAGE = {
    "ModelPackageArn": ARN,
    "InferenceSpecification": {"Containers": [
        {"Image": "pre", "ModelDataUrl": "s3://b/pre.tar.gz", "Environment": {"A": "package", "B": "package"},
         "Framework": "SKLEARN"},
        {"Image": "xgb", "ModelDataUrl": "s3://b/xgb.tar.gz"}]},
    "AdditionalInferenceSpecifications": [{"Name": "small", "Containers": [{"Image": "tiny"}]}],
}


async def _lookup(name: str) -> dict[str, Any]:
    if name != ARN:
        raise ValidationException(f"ModelPackage {name} does not exist.")
    return PACKAGE


def _resolve(*containers: dict[str, Any]) -> list[dict[str, Any]] | None:
    got = asyncio.run(resolve_containers([ContainerDefinition.model_validate(c) for c in containers], _lookup))
    return None if got is None else [c.to_api() for c in got]


def test_containers_without_a_package_are_left_as_they_are() -> None:
    assert _resolve({"Image": "own"}) is None


def test_a_package_expands_to_its_containers_with_the_models_environment_over_its_own() -> None:
    got = _resolve({"ModelPackageName": ARN, "Environment": {"B": "model", "C": "model"}}, {"Image": "post"})
    assert got == [{"Image": "pre", "ModelDataUrl": "s3://b/pre.tar.gz",
                    "Environment": {"A": "package", "B": "model", "C": "model"}},
                   {"Image": "xgb", "ModelDataUrl": "s3://b/xgb.tar.gz", "Environment": {"B": "model", "C": "model"}},
                   {"Image": "post"}]


def test_an_additional_specification_is_chosen_by_name_and_keeps_the_models_hostname_and_mode() -> None:
    got = _resolve({"ModelPackageName": ARN, "InferenceSpecificationName": "small", "ContainerHostname": "h",
                    "Mode": "SingleModel"})
    assert got == [{"Image": "tiny", "ContainerHostname": "h", "Mode": "SingleModel"}]


@pytest.mark.parametrize(("container", "words"), [
    ({"ModelPackageName": ARN, "InferenceSpecificationName": "large"}, "it has: small"),
    ({"ModelPackageName": ARN, "ModelDataUrl": "s3://b/other.tar.gz"}, "give neither"),
    ({"ModelPackageName": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/2"}, "does not exist"),
])
def test_what_cannot_be_resolved_is_a_validation_error(container: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationException, match=words):
        _resolve(container)
