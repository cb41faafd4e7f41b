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
