"""SageMaker's data-capture line format, read by the platform and by the Model Monitor image.

Each line of ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`` is one
captured invocation::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv",
        "mode": "INPUT", "data": "1,2,3", "encoding": "CSV"},
      "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2024-01-01T00:00:00Z"},
     "eventVersion": "0"}

``encoding`` is CSV, JSON (``data`` is the text itself) or BASE64. Ground
truth lines (the model quality monitor's) share the payload shape.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class CapturedPayload:
    """One side (input or output) of a captured invocation, decoded to text."""

    data: str
    observed_content_type: str
    mode: str
    encoding: str


@dataclass(frozen=True)
class CapturedEvent:
    """One captured invocation and where it was read from."""

    event_id: str | None
    inference_id: str | None
    inference_time: datetime | None
    event_version: str | None
    endpoint_input: CapturedPayload | None
    endpoint_output: CapturedPayload | None
    path: str
    line: int


class CaptureLineError(ValueError):
    """A capture line that does not follow the data-capture format."""


def decode_payload(raw: Any, side: str) -> CapturedPayload | None:
    """Decode one side of a capture (or ground-truth) line; None when absent."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or "data" not in raw:
        raise CaptureLineError(f"captureData.{side} has no data")
    encoding = str(raw.get("encoding") or "CSV").upper()
    data = raw["data"]
    if not isinstance(data, str):
        raise CaptureLineError(f"captureData.{side}.data is not a string")
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise CaptureLineError(f"captureData.{side}.data is not base64 of UTF-8 text: {exc}") from None
    elif encoding not in ("CSV", "JSON"):
        raise CaptureLineError(f"captureData.{side}.encoding {encoding!r} is not CSV, JSON or BASE64")
    return CapturedPayload(
        data=data,
        observed_content_type=str(raw.get("observedContentType") or ""),
        mode=str(raw.get("mode") or ""),
        encoding=encoding,
    )


def parse_line(line: str, path: str, number: int) -> CapturedEvent:
    """Parse one capture line or raise ``CaptureLineError`` saying why not."""
    try:
        document = json.loads(line)
    except ValueError as exc:
        raise CaptureLineError(f"invalid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("captureData"), dict):
        raise CaptureLineError("no captureData object")
    capture = document["captureData"]
    metadata = document.get("eventMetadata") or {}
    if not isinstance(metadata, dict):
        raise CaptureLineError("eventMetadata is not an object")
    try:
        moment = parse_instant(metadata.get("inferenceTime"))
    except ValueError:
        raise CaptureLineError(f"eventMetadata.inferenceTime is not an ISO-8601 time: "
                               f"{metadata.get('inferenceTime')!r}") from None
    return CapturedEvent(
        event_id=metadata.get("eventId"),
        inference_id=metadata.get("inferenceId"),
        inference_time=moment,
        event_version=document.get("eventVersion"),
        endpoint_input=decode_payload(capture.get("endpointInput"), "endpointInput"),
        endpoint_output=decode_payload(capture.get("endpointOutput"), "endpointOutput"),
        path=path,
        line=number,
    )


def parse_instant(value: str | None) -> datetime | None:
    """An ISO-8601 instant as the capture and monitoring contracts write them (SageMaker's examples carry
    stray spaces), UTC when it names no zone; ``None`` for none. ``ValueError`` when it is not one."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace(" ", "").replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
