"""Reading SageMaker data-capture files for a monitoring window.

Each line of ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`` is one
captured invocation::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv",
        "mode": "INPUT", "data": "1,2,3", "encoding": "CSV"},
      "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2024-01-01T00:00:00Z"},
     "eventVersion": "0"}

``encoding`` is CSV, JSON (``data`` is the text itself) or BASE64. The
platform may hand over more hours than the window, so events are filtered on
``inferenceTime`` (``start_time`` inclusive, ``end_time`` exclusive).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from containers.model_monitor.config import parse_time
from containers.model_monitor.errors import LineErrors, MonitorInputError


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
        moment = parse_time(metadata.get("inferenceTime"), "eventMetadata.inferenceTime")
    except MonitorInputError as exc:
        raise CaptureLineError(str(exc)) from None
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


def capture_files(source: Path, endpoint_name: str | None) -> list[Path]:
    """The ``.jsonl`` capture files under ``source`` (the endpoint's folder when present)."""
    if not source.exists():
        raise MonitorInputError(f"dataset_source {source} does not exist")
    root = source / endpoint_name if endpoint_name and (source / endpoint_name).is_dir() else source
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.jsonl") if p.is_file())


def in_window(event: CapturedEvent, start: datetime | None, end: datetime | None) -> bool:
    """Whether the event belongs to ``[start, end)`` (no time: always)."""
    if event.inference_time is None:
        return True
    if start is not None and event.inference_time < start:
        return False
    return not (end is not None and event.inference_time >= end)


def read_capture(
    source: Path, endpoint_name: str | None, start: datetime | None, end: datetime | None, errors: LineErrors
) -> list[CapturedEvent]:
    """Every captured event of the window; bad lines go to ``errors``."""
    events: list[CapturedEvent] = []
    for path in capture_files(source, endpoint_name):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    event = parse_line(line, str(path), number)
                except CaptureLineError as exc:
                    errors.add(str(path), number, str(exc))
                    continue
                if in_window(event, start, end):
                    events.append(event)
    return events
