"""Parsing at the edge: SQS message bodies into the handler's typed event.

Small envelopes unwrap each route a message can take to a queue:

* an EventBridge event (S3 "Object Created" or Headwater's own events),
* a direct S3 notification (``Records``, keys ``quote_plus``-encoded),
* S3's ``s3:TestEvent`` (acknowledged, nothing to handle).

A body that fits none of them raises :class:`MalformedEvent`, which the
runtime retries and then dead-letters with the error recorded.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from handlers.events import EventBridgeEvent, ObjectCreated, S3Notification, S3ObjectCreatedDetail, S3TestEvent
from handlers.exceptions import MalformedEvent
from handlers.registry import HandlerSpec, OnEvent


def parse_body(spec: HandlerSpec, body: str | dict[str, Any]) -> list[BaseModel]:
    """The typed events carried by one message (zero for a test event)."""
    try:
        doc = json.loads(body) if isinstance(body, str) else body
    except json.JSONDecodeError as err:
        raise MalformedEvent(f"message body is not JSON: {err}") from err
    if not isinstance(doc, dict):
        raise MalformedEvent(f"message body is a JSON {type(doc).__name__}, not an object")
    try:
        if isinstance(spec.trigger, OnEvent):
            return [spec.event_model.model_validate(doc)]
        return _object_created(doc)
    except ValidationError as err:
        raise MalformedEvent(f"event does not match {spec.event_model.__name__}: {_brief(err)}") from err


def _object_created(doc: dict[str, Any]) -> list[BaseModel]:
    if "detail-type" in doc:
        ev = EventBridgeEvent[S3ObjectCreatedDetail].model_validate(doc)
        if ev.detail_type != "Object Created":
            raise MalformedEvent(f"expected an S3 'Object Created' event, got {ev.detail_type!r}")
        o = ev.detail.object
        return [ObjectCreated(bucket=ev.detail.bucket.name, key=o.key, size=o.size, etag=o.etag,
                              sequencer=o.sequencer, event_time=ev.time)]
    if doc.get("Event") == "s3:TestEvent":
        S3TestEvent.model_validate(doc)
        return []
    if "Records" in doc:
        note = S3Notification.model_validate(doc)
        return [
            ObjectCreated(bucket=r.s3.bucket.name, key=r.s3.object.key, size=r.s3.object.size,
                          etag=r.s3.object.e_tag, sequencer=r.s3.object.sequencer, event_time=r.event_time)
            for r in note.records if r.event_name.startswith("ObjectCreated:")
        ]
    raise MalformedEvent("not an S3 event: no 'detail-type', 'Records' or 's3:TestEvent'")


def _brief(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in err.errors()[:5])
