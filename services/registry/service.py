"""The model registry: model package groups and versioned model packages.

Versions are numbered per group by a conditional update of the group's
counter, so concurrent registrations never share a number. Every change of
a package publishes "SageMaker Model Package State Change" with the
package's Describe response as ``detail``. A package registered from a
training job's artifact records that job's lineage (input data URIs and
hyperparameters).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from services.core.events import Publisher, publish_state_change
from services.core.exceptions import ConflictException, ResourceInUse, ValidationException
from services.core.paging import page
from services.core.store import DocumentStore
from services.core.tags import TagAccess, document_tags
from services.core.times import parse_time, utcnow
from services.registry.model_card import merged_card
from services.registry.models import Lineage, ModelApprovalStatus, ModelPackage, ModelPackageGroup

DETAIL_TYPE = "SageMaker Model Package State Change"
_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]+:\d{12}:model-package/(?P<rest>.+)$")
_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]+:\d{12}:model-package-group/(?P<name>.+)$")


class TrainingRecord(Protocol):
    """What the registry reads of a training job to record a package's lineage."""

    training_job_name: str
    training_job_arn: str
    model_artifacts: Any
    input_data_config: Any
    hyper_parameters: dict[str, str] | None


class ModelRegistryService:
    """``*ModelPackageGroup*`` and ``*ModelPackage*`` operations.

    Missing resources answer ``ValidationException`` ("... does not exist"),
    as SageMaker's registry does: botocore declares no ``ResourceNotFound``
    for these operations.
    """

    def __init__(self, groups: DocumentStore[ModelPackageGroup], packages: DocumentStore[ModelPackage],
                 publisher: Publisher,
                 find_generator: Callable[[str, set[str]], Awaitable[TrainingRecord | None]], *,
                 region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.groups = groups
        self.packages = packages
        self.publisher = publisher
        # (GeneratedBy ARN, model artifact URLs) -> the training job behind a package, or None
        self.find_generator = find_generator
        self.region = region
        self.account_id = account_id
        self.clock = clock

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    # --- groups ------------------------------------------------------------------------

    async def create_model_package_group(self, params: dict[str, Any]) -> ModelPackageGroup:
        """Create a group; ``ResourceInUse`` if it exists (case-insensitively, as its ARN)."""
        name = params["ModelPackageGroupName"]
        if await self._find_group(name) is not None:
            # botocore declares no conflict error here: SageMaker answers with a ValidationException.
            raise ValidationException(f"Model Package Group already exists: {self._arn('model-package-group', name)}")
        group = ModelPackageGroup(
            model_package_group_name=name, model_package_group_arn=self._arn("model-package-group", name),
            model_package_group_description=params.get("ModelPackageGroupDescription"),
            creation_time=self.clock(), tags=params.get("Tags"))
        return await self.groups.create(name, group)

    async def _find_group(self, name_or_arn: str) -> ModelPackageGroup | None:
        m = _GROUP_ARN.match(name_or_arn)
        return await self.groups.find(m["name"] if m else name_or_arn, lambda g: g.model_package_group_name)

    async def describe_model_package_group(self, name_or_arn: str) -> ModelPackageGroup:
        """The group, or ``ResourceNotFound``."""
        group = await self._find_group(name_or_arn)
        if group is None:
            raise ValidationException(f"ModelPackageGroup {name_or_arn} does not exist.")
        return group

    async def list_model_package_groups(self, params: dict[str, Any]) -> tuple[list[ModelPackageGroup], str | None]:
        """Filter, sort and page groups as ``ListModelPackageGroups``."""
        groups = _filter_by_time_and_name(await self.groups.list(), params, lambda g: g.model_package_group_name)
        key = (lambda g: g.model_package_group_name) if params.get("SortBy") == "Name" else \
            (lambda g: (g.creation_time, g.model_package_group_name))
        groups.sort(key=key, reverse=params.get("SortOrder") == "Descending")
        return page(groups, int(params.get("MaxResults", 10)), params.get("NextToken"))

    async def delete_model_package_group(self, name_or_arn: str) -> None:
        """Delete an empty group (its versions must be deleted first)."""
        group = await self.describe_model_package_group(name_or_arn)
        if await self._versions(group.model_package_group_name):
            raise ConflictException(f"Model Package Group {group.model_package_group_name} contains model "
                                    f"packages; delete them before the group.")
        await self.groups.delete(group.model_package_group_name)

    async def _versions(self, group: str) -> list[ModelPackage]:
        return [p for p in await self.packages.list() if p.model_package_group_name == group]

    # --- packages ----------------------------------------------------------------------

    async def create_model_package(self, params: dict[str, Any]) -> ModelPackage:
        """Register a package: a new version of its group, or an unversioned package."""
        group_name = params.get("ModelPackageGroupName")
        fields = {k: v for k, v in params.items() if k not in ("ModelPackageGroupName", "ModelPackageName")}
        if params.get("ModelCard"):
            fields["ModelCard"] = merged_card(None, params["ModelCard"])
        _add_specifications([], params.get("AdditionalInferenceSpecifications") or [])
        if group_name:
            group = await self.describe_model_package_group(group_name)
            version = await self._next_version(group.model_package_group_name)
            now = self.clock()  # after the number: versions and creation times keep one order
            package = ModelPackage.model_validate({
                **fields, "ModelPackageName": group.model_package_group_name,
                "ModelPackageGroupName": group.model_package_group_name, "ModelPackageVersion": version,
                "ModelPackageArn": self._arn("model-package", f"{group.model_package_group_name}/{version}"),
                "CreationTime": now, "LastModifiedTime": now,
                "ModelApprovalStatus": params.get("ModelApprovalStatus", ModelApprovalStatus.PENDING.value)})
        elif params.get("ModelPackageName"):
            name = params["ModelPackageName"]
            if await self._find_unversioned(name) is not None:
                raise _package_exists(self._arn("model-package", name))
            now = self.clock()
            package = ModelPackage.model_validate({
                **fields, "ModelPackageName": name, "ModelPackageArn": self._arn("model-package", name),
                "CreationTime": now, "LastModifiedTime": now})
        else:
            raise ValidationException("Either ModelPackageName or ModelPackageGroupName must be provided")
        package.lineage = await self._lineage(params)
        if package.lineage is not None:
            # SageMaker's own lineage field: the ARN of what generated the model.
            package.metadata_properties = {"GeneratedBy": package.lineage.training_job_arn,
                                           **(package.metadata_properties or {})}
        try:
            await self.packages.create(package.store_key, package)
        except ResourceInUse as err:  # lost a race with a concurrent create of the same unversioned name
            raise _package_exists(package.model_package_arn) from err
        await self._publish(package)
        return package

    async def _next_version(self, group: str) -> int:
        def bump(g: ModelPackageGroup) -> ModelPackageGroup:
            g.latest_version += 1
            return g

        _, after = await self.groups.update(group, bump)
        return after.latest_version

    async def _lineage(self, params: dict[str, Any]) -> Lineage | None:
        """The training job behind the package: ``MetadataProperties.GeneratedBy``, or the
        job whose artifact is the package's ``ModelDataUrl``."""
        generated_by = (params.get("MetadataProperties") or {}).get("GeneratedBy", "")
        urls = {c["ModelDataUrl"] for c in (params.get("InferenceSpecification") or {}).get("Containers", [])
                if c.get("ModelDataUrl")}
        job = await self.find_generator(generated_by, urls)
        if job is None:
            return None
        return Lineage(
            training_job_name=job.training_job_name, training_job_arn=job.training_job_arn,
            input_data_uris={c.channel_name: c.data_source.s3_data_source.s3_uri
                             for c in job.input_data_config or [] if c.data_source.s3_data_source},
            hyper_parameters=dict(job.hyper_parameters or {}))

    async def _resolve(self, name_or_arn: str) -> ModelPackage:
        m = _PACKAGE_ARN.match(name_or_arn)
        rest = m["rest"] if m else name_or_arn
        group, _, version = rest.rpartition("/")
        if group and version.isdigit():
            found = await self._find_group(group)
            package = await self.packages.get(f"{found.model_package_group_name}/{int(version):06d}") if found else None
        else:
            package = await self._find_unversioned(rest)
        if package is None:
            raise ValidationException(f"ModelPackage {name_or_arn} does not exist.")
        return package

    async def _find_unversioned(self, name: str) -> ModelPackage | None:
        """An unversioned package by name, case-insensitively (as its ARN)."""
        package = await self.packages.get(f"_unversioned/{name}")
        if package is None:
            package = next((p for p in await self.packages.list()
                            if p.model_package_version is None and p.model_package_name.lower() == name.lower()), None)
        return package

    async def describe_model_package(self, name_or_arn: str) -> ModelPackage:
        """The package by ARN (versioned) or name (unversioned)."""
        return await self._resolve(name_or_arn)

    async def list_model_packages(self, params: dict[str, Any]) -> tuple[list[ModelPackage], str | None]:
        """Filter, sort and page packages as ``ListModelPackages``."""
        packages = await self.packages.list()
        if params.get("ModelPackageGroupName"):
            # A group that does not exist has no packages: SageMaker answers an empty list, not an error.
            group = await self._find_group(params["ModelPackageGroupName"])
            if group is None:
                return [], None
            packages = [p for p in packages if p.model_package_group_name == group.model_package_group_name]
        else:
            kind = params.get("ModelPackageType", "Unversioned")
            if kind != "Both":
                packages = [p for p in packages if (p.model_package_version is not None) == (kind == "Versioned")]
        if params.get("ModelApprovalStatus"):
            packages = [p for p in packages if p.model_approval_status
                        and p.model_approval_status.value == params["ModelApprovalStatus"]]
        packages = _filter_by_time_and_name(packages, params, lambda p: p.model_package_name)
        key = (lambda p: (p.model_package_name, p.model_package_version or 0)) if params.get("SortBy") == "Name" \
            else (lambda p: (p.creation_time, p.model_package_version or 0))
        packages.sort(key=key, reverse=params.get("SortOrder") == "Descending")
        return page(packages, int(params.get("MaxResults", 10)), params.get("NextToken"))

    async def update_model_package(self, params: dict[str, Any]) -> ModelPackage:
        """Approve, reject, or edit a package: its metadata, card, life cycle stage, source and inference
        specifications (a package registered from a ``SourceUri`` gets its ``InferenceSpecification`` here);
        publishes the change."""
        current = await self._resolve(params["ModelPackageArn"])

        def edit(p: ModelPackage) -> ModelPackage:
            if "ModelApprovalStatus" in params:
                p.model_approval_status = ModelApprovalStatus(params["ModelApprovalStatus"])
            if "ApprovalDescription" in params:
                p.approval_description = params["ApprovalDescription"]
            if params.get("CustomerMetadataProperties") or params.get("CustomerMetadataPropertiesToRemove"):
                props = dict(p.customer_metadata_properties or {})
                props.update(params.get("CustomerMetadataProperties") or {})
                for key in params.get("CustomerMetadataPropertiesToRemove") or []:
                    props.pop(key, None)
                p.customer_metadata_properties = props
            if "InferenceSpecification" in params:
                p.inference_specification = params["InferenceSpecification"]
            if params.get("AdditionalInferenceSpecificationsToAdd"):
                p.additional_inference_specifications = _add_specifications(
                    p.additional_inference_specifications or [], params["AdditionalInferenceSpecificationsToAdd"])
            for member in ("SourceUri", "ModelLifeCycle", "ModelPackageRegistrationType"):
                if member in params:
                    setattr(p, _ATTRIBUTES[member], params[member])
            if params.get("ModelCard"):
                p.model_card = merged_card(p.model_card, params["ModelCard"])
            p.last_modified_time = self.clock()
            return p

        _, after = await self.packages.update(current.store_key, edit)
        await self._publish(after)
        return after

    async def delete_model_package(self, name_or_arn: str) -> None:
        """Delete a package (a group's version numbers are never reused)."""
        package = await self._resolve(name_or_arn)
        await self.packages.delete(package.store_key)
        package.model_package_status = "Deleting"
        await self._publish(package)

    def tag_access(self, kind: str) -> TagAccess:
        """Tags of groups (``model-package-group``) or packages (``model-package``)."""
        if kind == "group":
            return document_tags(self.groups, self.describe_model_package_group, lambda g: g.model_package_group_name)
        return document_tags(self.packages, self._resolve, lambda p: p.store_key)

    async def _publish(self, package: ModelPackage) -> None:
        await publish_state_change(self.publisher, DETAIL_TYPE, package.describe(), [package.model_package_arn],
                                   package.model_package_arn)


def _package_exists(arn: str) -> ValidationException:
    # botocore declares no error for a taken name here: SageMaker answers as it does for a group.
    return ValidationException(f"Model Package already exists: {arn}")


_ATTRIBUTES = {"SourceUri": "source_uri", "ModelLifeCycle": "model_life_cycle",
               "ModelPackageRegistrationType": "model_package_registration_type"}
MAX_ADDITIONAL_SPECIFICATIONS = 15  # botocore's AdditionalInferenceSpecifications maximum, also for the total


def _add_specifications(current: list[dict[str, Any]], added: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``current`` followed by ``added``: names unique within the package, at most 15 in all."""
    names = [s["Name"] for s in current + added]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValidationException(f"AdditionalInferenceSpecifications names must be unique within a model package: "
                                  f"{', '.join(repeated)} given more than once")
    if len(names) > MAX_ADDITIONAL_SPECIFICATIONS:
        raise ValidationException(f"A model package holds at most {MAX_ADDITIONAL_SPECIFICATIONS} additional "
                                  f"inference specifications; this update would make {len(names)}")
    return current + added


def _filter_by_time_and_name(items: list[Any], params: dict[str, Any], name: Callable[[Any], str]) -> list[Any]:
    after, before = parse_time(params.get("CreationTimeAfter")), parse_time(params.get("CreationTimeBefore"))
    contains = (params.get("NameContains") or "").lower()
    return [i for i in items
            if (after is None or i.creation_time > after) and (before is None or i.creation_time < before)
            and contains in name(i).lower()]
