"""``CreateModel`` containers that name a model package instead of an image.

A ``ContainerDefinition`` with ``ModelPackageName`` (and no ``Image``)
stands for the containers of the package's ``InferenceSpecification``, or
of the ``AdditionalInferenceSpecifications`` entry its
``InferenceSpecificationName`` names: each one's image, model data and
environment, with the model's ``Environment`` over the package's. They
are resolved once, when the model is created, as SageMaker does; the
model's Describe keeps what was sent. Hosting never imports the registry:
the composition root hands it a :data:`PackageLookup`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.core.exceptions import ValidationException
from services.inference.models import ContainerDefinition

# ModelPackageName or ARN -> the package's DescribeModelPackage response (ValidationException when missing).
PackageLookup = Callable[[str], Awaitable[dict[str, Any]]]

# What a model container takes from the package's container, and what from the model's own definition.
_FROM_PACKAGE = ("ContainerHostname", "Image", "ModelDataUrl", "ModelDataSource", "AdditionalModelDataSources")
_FROM_MODEL = ("Mode", "MultiModelConfig", "ImageConfig", "ContainerMetricsConfig")


async def resolve_containers(containers: list[ContainerDefinition],
                             lookup: PackageLookup | None) -> list[ContainerDefinition] | None:
    """The containers to run for ``containers``; ``None`` when none names a model package."""
    if not any(c.model_package_name for c in containers):
        return None
    resolved: list[ContainerDefinition] = []
    for container in containers:
        if not container.model_package_name:
            resolved.append(container)
            continue
        if container.image or container.model_data_url:
            raise ValidationException(f"A container with ModelPackageName {container.model_package_name} takes "
                                      "its Image and ModelDataUrl from the model package; give neither.")
        if lookup is None:  # a service built without the registry (unit tests): nothing to resolve with
            raise ValidationException("Container Image must be specified")
        package = await lookup(container.model_package_name)
        spec = _specification(package, container.inference_specification_name)
        own = container.to_api()
        for theirs in spec["Containers"]:
            doc = {k: theirs[k] for k in _FROM_PACKAGE if k in theirs}
            doc.update({k: own[k] for k in _FROM_MODEL if k in own})
            if container.container_hostname and len(spec["Containers"]) == 1:
                doc["ContainerHostname"] = container.container_hostname
            environment = {**(theirs.get("Environment") or {}), **(container.environment or {})}
            if environment:
                doc["Environment"] = environment
            resolved.append(ContainerDefinition.model_validate(doc))
    return resolved


def _specification(package: dict[str, Any], name: str | None) -> dict[str, Any]:
    """The package's inference specification, or its additional one called ``name``."""
    arn = package["ModelPackageArn"]
    if name:
        for spec in package.get("AdditionalInferenceSpecifications") or []:
            if spec["Name"] == name:
                return spec
        known = [s["Name"] for s in package.get("AdditionalInferenceSpecifications") or []]
        raise ValidationException(f"InferenceSpecificationName {name} is not an additional inference specification "
                                  f"of model package {arn} (it has: {', '.join(known) or 'none'}).")
    spec = package.get("InferenceSpecification")
    if not spec or not spec.get("Containers"):
        raise ValidationException(f"Model package {arn} has no InferenceSpecification to create a model from; add one "
                                  "with UpdateModelPackage.")
    return spec
