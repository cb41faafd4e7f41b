"""Channel shapes, as botocore's SageMaker service model names them.

A training job's ``InputDataConfig`` entries; processing inputs and
transform inputs are read through the same shapes, so every input mode
serves all three.
"""

from __future__ import annotations

from services.core.models import ApiModel


class S3DataSource(ApiModel):
    """``S3DataSource`` of a channel."""

    s3_data_type: str = "S3Prefix"
    s3_uri: str
    s3_data_distribution_type: str | None = None
    attribute_names: list[str] | None = None


class DataSource(ApiModel):
    """``DataSource``: only S3 is served."""

    s3_data_source: S3DataSource | None = None


class Channel(ApiModel):
    """One ``InputDataConfig`` entry."""

    channel_name: str
    data_source: DataSource
    content_type: str | None = None
    compression_type: str | None = None
    record_wrapper_type: str | None = None
    input_mode: str | None = None
