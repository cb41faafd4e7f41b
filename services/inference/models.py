"""What an inference instance runs: a model's containers, as botocore's SageMaker model names them."""

from __future__ import annotations

from services.core.models import ApiModel


class ContainerDefinition(ApiModel):
    """``ContainerDefinition``: an image, its model artifact and environment."""

    container_hostname: str | None = None
    image: str | None = None
    mode: str | None = None  # SingleModel | MultiModel
    model_data_url: str | None = None
    environment: dict[str, str] | None = None
    # A container may name a model package instead of an image: CreateModel resolves it to the package's.
    model_package_name: str | None = None
    inference_specification_name: str | None = None
