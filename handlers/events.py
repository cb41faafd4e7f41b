"""Models of the events Headwater consumes and publishes.

Each source gets its own model (the Powertools parser style); small
envelopes in ``handlers.envelopes`` unwrap SQS bodies into these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import unquote_plus

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

DetailT = TypeVar("DetailT")


class EventBridgeEvent(BaseModel, Generic[DetailT]):
    """An EventBridge event as delivered to a target."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    version: str = "0"
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str = ""
    time: datetime
    region: str = ""
    resources: list[str] = Field(default_factory=list)
    detail: DetailT


class S3BucketRef(BaseModel):
    """``detail.bucket`` of an S3 EventBridge event."""

    name: str


class S3ObjectRef(BaseModel):
    """``detail.object`` of an S3 EventBridge event."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    key: str
    size: int = 0
    # AWS spells it "etag"; moto's EventBridge events spell it "eTag".
    etag: str = Field(default="", validation_alias=AliasChoices("etag", "eTag"))
    sequencer: str = ""
    version_id: str | None = Field(default=None, alias="version-id")


class S3ObjectCreatedDetail(BaseModel):
    """``detail`` of an S3 "Object Created" event."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    bucket: S3BucketRef
    object: S3ObjectRef
    reason: str = ""


class ObjectCreated(BaseModel):
    """What an object-created handler receives, whatever route the event took
    (EventBridge, or a direct S3 -> SQS notification)."""

    bucket: str
    key: str
    size: int = 0
    etag: str = ""
    sequencer: str = ""
    event_time: datetime | None = None

    @property
    def uri(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"


class S3NotificationObject(BaseModel):
    """``Records[].s3.object`` of a direct S3 notification."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    key: str
    size: int = 0
    e_tag: str = Field(default="", alias="eTag")
    sequencer: str = ""

    @field_validator("key")
    @classmethod
    def _decode_key(cls, v: str) -> str:
        # S3 notifications carry keys form-encoded: "dir%2Fa+b.csv".
        return unquote_plus(v)


class S3NotificationEntity(BaseModel):
    """``Records[].s3``."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    bucket: S3BucketRef
    object: S3NotificationObject


class S3NotificationRecord(BaseModel):
    """One ``Records[]`` entry of a direct S3 notification."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event_source: Literal["aws:s3"] = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    event_time: datetime = Field(alias="eventTime")
    s3: S3NotificationEntity


class S3Notification(BaseModel):
    """A direct S3 -> SQS notification body."""

    records: list[S3NotificationRecord] = Field(alias="Records")


class S3TestEvent(BaseModel):
    """The ``s3:TestEvent`` S3 sends when a notification is configured."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event: Literal["s3:TestEvent"] = Field(alias="Event")
    bucket: str = Field(default="", alias="Bucket")


class StateChangeEvent(EventBridgeEvent[dict[str, Any]]):
    """A "SageMaker ... State Change" event; ``detail`` mirrors Describe*."""
