"""Hosting shapes (models, endpoint configs, endpoints), as botocore's SageMaker model names them.

Documents keep request members Headwater does not model (``extra="allow"``),
so they round-trip to Describe* unchanged; ``Tags`` and Headwater's own
bookkeeping are stored with the document but never described.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import Field

from services.core.models import ApiModel
from services.inference.models import ContainerDefinition

_PRIVATE = {"Tags", "Headwater"}


class EndpointStatus(str, Enum):
    """``EndpointStatus`` values Headwater goes through."""

    CREATING = "Creating"
    UPDATING = "Updating"
    IN_SERVICE = "InService"
    DELETING = "Deleting"
    FAILED = "Failed"


class InferenceExecutionConfig(ApiModel):
    """``InferenceExecutionConfig``: ``Serial`` pipelines or ``Direct`` invocation."""

    mode: str


class ModelBookkeeping(ApiModel):
    """Headwater's own fields on a model document."""

    # The containers the model runs when some of those it was created with name a model package
    # (resolved once, at CreateModel, as SageMaker does); None when they are the ones it was created with.
    resolved_containers: list[ContainerDefinition] | None = None


class Model(ApiModel):
    """A ``CreateModel`` document."""

    model_name: str
    primary_container: ContainerDefinition | None = None
    containers: list[ContainerDefinition] | None = None
    inference_execution_config: InferenceExecutionConfig | None = None
    execution_role_arn: str | None = None
    enable_network_isolation: bool | None = None
    model_arn: str = ""
    creation_time: datetime | None = None
    tags: list[dict[str, str]] | None = None
    headwater: ModelBookkeeping = Field(default_factory=ModelBookkeeping)

    def requested_containers(self) -> list[ContainerDefinition]:
        """The containers as ``CreateModel`` gave them (and ``DescribeModel`` returns them)."""
        return [self.primary_container] if self.primary_container else list(self.containers or [])

    def pipeline(self) -> list[ContainerDefinition]:
        """The containers a request passes through, in order (a model package's, where one was named)."""
        if self.headwater.resolved_containers is not None:
            return list(self.headwater.resolved_containers)
        return self.requested_containers()

    def describe(self) -> dict[str, Any]:
        """The ``DescribeModel`` response."""
        return {k: v for k, v in self.to_api().items() if k not in _PRIVATE}


class ProductionVariant(ApiModel):
    """``ProductionVariant`` (also the shape of a shadow variant)."""

    variant_name: str
    model_name: str | None = None
    initial_instance_count: int | None = None
    instance_type: str | None = None
    initial_variant_weight: float | None = None


class CaptureOption(ApiModel):
    """``CaptureOption``: ``Input`` or ``Output``."""

    capture_mode: str


class DataCaptureConfig(ApiModel):
    """``DataCaptureConfig``."""

    enable_capture: bool | None = None
    initial_sampling_percentage: int
    destination_s3_uri: str = Field(alias="DestinationS3Uri")
    kms_key_id: str | None = None
    capture_options: list[CaptureOption]
    capture_content_type_header: dict[str, list[str]] | None = None

    def summary(self) -> dict[str, Any]:
        """``DataCaptureConfigSummary`` as an endpoint describes it."""
        enabled = self.enable_capture is not False
        return {"EnableCapture": enabled, "CaptureStatus": "Started" if enabled else "Stopped",
                "CurrentSamplingPercentage": self.initial_sampling_percentage,
                "DestinationS3Uri": self.destination_s3_uri, "KmsKeyId": self.kms_key_id or ""}


class EndpointConfig(ApiModel):
    """A ``CreateEndpointConfig`` document."""

    endpoint_config_name: str
    endpoint_config_arn: str = ""
    production_variants: list[ProductionVariant]
    shadow_production_variants: list[ProductionVariant] | None = None
    data_capture_config: DataCaptureConfig | None = None
    kms_key_id: str | None = None
    creation_time: datetime | None = None
    tags: list[dict[str, str]] | None = None

    def describe(self) -> dict[str, Any]:
        """The ``DescribeEndpointConfig`` response."""
        return {k: v for k, v in self.to_api().items() if k not in _PRIVATE}


class VariantSummary(ApiModel):
    """``ProductionVariantSummary``."""

    variant_name: str
    deployed_images: list[dict[str, Any]] | None = None
    current_weight: float | None = None
    desired_weight: float | None = None
    current_instance_count: int | None = None
    desired_instance_count: int | None = None


class EndpointBookkeeping(ApiModel):
    """Headwater's own fields on an endpoint document."""

    # The config an update is moving to, while it is in progress.
    pending_config: str | None = None


class Endpoint(ApiModel):
    """An endpoint document."""

    endpoint_name: str
    endpoint_arn: str
    endpoint_config_name: str
    production_variants: list[VariantSummary] | None = None
    shadow_production_variants: list[VariantSummary] | None = None
    data_capture_config: dict[str, Any] | None = None
    endpoint_status: EndpointStatus
    failure_reason: str | None = None
    creation_time: datetime
    last_modified_time: datetime
    pending_deployment_summary: dict[str, Any] | None = None
    tags: list[dict[str, str]] | None = None
    headwater: EndpointBookkeeping = Field(default_factory=EndpointBookkeeping)

    def describe(self) -> dict[str, Any]:
        """The ``DescribeEndpoint`` response."""
        return {k: v for k, v in self.to_api().items() if k not in _PRIVATE}

    def summary(self) -> dict[str, Any]:
        """``EndpointSummary`` for ``ListEndpoints``."""
        return {"EndpointName": self.endpoint_name, "EndpointArn": self.endpoint_arn,
                "CreationTime": self.creation_time, "LastModifiedTime": self.last_modified_time,
                "EndpointStatus": self.endpoint_status.value}
