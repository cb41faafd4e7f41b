"""Model registry shapes: model package groups and (versioned) model packages."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import Field

from services.core.models import ApiModel


class ModelApprovalStatus(str, Enum):
    """``ModelApprovalStatus``."""

    APPROVED = "Approved"
    REJECTED = "Rejected"
    PENDING = "PendingManualApproval"


class ModelPackageGroup(ApiModel):
    """A model package group document (``DescribeModelPackageGroup``)."""

    model_package_group_name: str
    model_package_group_arn: str
    model_package_group_description: str | None = None
    creation_time: datetime
    created_by: dict[str, Any] = Field(default_factory=dict)
    model_package_group_status: str = "Completed"
    tags: list[dict[str, str]] | None = None
    # Headwater's bookkeeping: the last version number handed out.
    latest_version: int = Field(default=0, alias="HeadwaterLatestVersion")

    def describe(self) -> dict[str, Any]:
        """The Describe response."""
        doc = self.to_api()
        for key in ("Tags", "HeadwaterLatestVersion"):
            doc.pop(key, None)
        return doc

    def summary(self) -> dict[str, Any]:
        """A ``ModelPackageGroupSummary``."""
        return {k: v for k, v in self.describe().items() if k in (
            "ModelPackageGroupName", "ModelPackageGroupArn", "ModelPackageGroupDescription", "CreationTime",
            "ModelPackageGroupStatus")}


class Lineage(ApiModel):
    """Where a package's model came from (Headwater records it at registration)."""

    training_job_name: str
    training_job_arn: str
    input_data_uris: dict[str, str] = Field(default_factory=dict)
    hyper_parameters: dict[str, str] = Field(default_factory=dict)


class ModelPackage(ApiModel):
    """A model package document (``DescribeModelPackage``); request fields round-trip."""

    model_package_name: str
    model_package_group_name: str | None = None
    model_package_version: int | None = None
    model_package_arn: str
    model_package_description: str | None = None
    creation_time: datetime
    last_modified_time: datetime | None = None
    inference_specification: dict[str, Any] | None = None
    model_package_status: str = "Completed"
    model_package_status_details: dict[str, Any] = Field(
        default_factory=lambda: {"ValidationStatuses": [], "ImageScanStatuses": []})
    model_approval_status: ModelApprovalStatus | None = None
    approval_description: str | None = None
    model_metrics: dict[str, Any] | None = None
    customer_metadata_properties: dict[str, str] | None = None
    drift_check_baselines: dict[str, Any] | None = None
    metadata_properties: dict[str, Any] | None = None
    additional_inference_specifications: list[dict[str, Any]] | None = None
    source_uri: str | None = None
    model_card: dict[str, Any] | None = None
    model_life_cycle: dict[str, Any] | None = None
    model_package_registration_type: str | None = None
    certify_for_marketplace: bool = False
    created_by: dict[str, Any] = Field(default_factory=dict)
    tags: list[dict[str, str]] | None = None
    lineage: Lineage | None = Field(default=None, alias="HeadwaterLineage")

    @property
    def store_key(self) -> str:
        """Versioned packages live under their group; unversioned by name."""
        if self.model_package_version is not None:
            return f"{self.model_package_group_name}/{self.model_package_version:06d}"
        return f"_unversioned/{self.model_package_name}"

    def describe(self) -> dict[str, Any]:
        """The Describe response (and the state-change event's ``detail``)."""
        doc = self.to_api()
        for key in ("Tags", "HeadwaterLineage", "ClientToken"):
            doc.pop(key, None)
        return doc

    def summary(self) -> dict[str, Any]:
        """A ``ModelPackageSummary``."""
        keys = ("ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn",
                "ModelPackageDescription", "CreationTime", "ModelPackageStatus", "ModelApprovalStatus",
                "ModelLifeCycle", "ModelPackageRegistrationType")
        return {k: v for k, v in self.describe().items() if k in keys}
