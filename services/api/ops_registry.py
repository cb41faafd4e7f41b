"""Model registry operations."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.protocol import page_response
from services.api.server import AwsJsonService


def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register the ModelPackageGroup and ModelPackage operations."""
    registry = services.registry

    @api.operation("CreateModelPackageGroup")
    async def create_group(params: dict[str, Any]) -> dict[str, Any]:
        group = await registry.create_model_package_group(params)
        return {"ModelPackageGroupArn": group.model_package_group_arn}

    @api.operation("DescribeModelPackageGroup")
    async def describe_group(params: dict[str, Any]) -> dict[str, Any]:
        return (await registry.describe_model_package_group(params["ModelPackageGroupName"])).describe()

    @api.operation("ListModelPackageGroups")
    async def list_groups(params: dict[str, Any]) -> dict[str, Any]:
        groups, token = await registry.list_model_package_groups(params)
        return page_response("ModelPackageGroupSummaryList", [g.summary() for g in groups], token)

    @api.operation("DeleteModelPackageGroup")
    async def delete_group(params: dict[str, Any]) -> dict[str, Any]:
        await registry.delete_model_package_group(params["ModelPackageGroupName"])
        return {}

    @api.operation("CreateModelPackage")
    async def create_package(params: dict[str, Any]) -> dict[str, Any]:
        package = await registry.create_model_package(params)
        return {"ModelPackageArn": package.model_package_arn}

    @api.operation("DescribeModelPackage")
    async def describe_package(params: dict[str, Any]) -> dict[str, Any]:
        return (await registry.describe_model_package(params["ModelPackageName"])).describe()

    @api.operation("ListModelPackages")
    async def list_packages(params: dict[str, Any]) -> dict[str, Any]:
        packages, token = await registry.list_model_packages(params)
        return page_response("ModelPackageSummaryList", [p.summary() for p in packages], token)

    @api.operation("UpdateModelPackage")
    async def update_package(params: dict[str, Any]) -> dict[str, Any]:
        package = await registry.update_model_package(params)
        return {"ModelPackageArn": package.model_package_arn}

    @api.operation("DeleteModelPackage")
    async def delete_package(params: dict[str, Any]) -> dict[str, Any]:
        await registry.delete_model_package(params["ModelPackageName"])
        return {}
