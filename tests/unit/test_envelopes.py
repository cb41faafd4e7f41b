"""Parsing at the edge: every route an S3 event takes to a queue."""

from __future__ import annotations

import json

import pytest

from handlers.envelopes import parse_body
from handlers.events import ObjectCreated, StateChangeEvent
from handlers.exceptions import MalformedEvent
from handlers.registry import HandlerSpec, OnEvent, OnObjectCreated


async def _noop(event: object, deps: object) -> None:
    return None


S3_SPEC = HandlerSpec(name="t", func=_noop, trigger=OnObjectCreated(bucket="data_bucket"))
EVENT_SPEC = HandlerSpec(name="e", func=_noop, trigger=OnEvent(detail_type=("SageMaker Training Job State Change",)))

EVENTBRIDGE = {
    "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
    "source": "aws.s3", "account": "123456789012", "time": "2026-11-22T10:00:00Z", "region": "us-east-1",
    "resources": ["arn:aws:s3:::headwater-data"],
    "detail": {"version": "0", "bucket": {"name": "headwater-data"},
               "object": {"key": "datasets/churn/train/a b.csv", "size": 5, "etag": "abc", "sequencer": "0062"},
               "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject"},
}

NOTIFICATION = {"Records": [{
    "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
    "eventTime": "2026-11-22T10:00:00.000Z", "eventName": "ObjectCreated:Put",
    "s3": {"s3SchemaVersion": "1.0", "configurationId": "x",
           "bucket": {"name": "headwater-data", "arn": "arn:aws:s3:::headwater-data"},
           "object": {"key": "datasets/churn/train/dir%2Fa+b.csv", "size": 7, "eTag": "e1", "sequencer": "01"}},
}, {
    "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
    "eventTime": "2026-11-22T10:00:01.000Z", "eventName": "ObjectRemoved:Delete",
    "s3": {"bucket": {"name": "headwater-data"}, "object": {"key": "gone.csv"}},
}]}


def test_eventbridge_object_created() -> None:
    [ev] = parse_body(S3_SPEC, json.dumps(EVENTBRIDGE))
    assert isinstance(ev, ObjectCreated)
    assert (ev.bucket, ev.key, ev.size, ev.etag) == ("headwater-data", "datasets/churn/train/a b.csv", 5, "abc")
    assert ev.uri == "s3://headwater-data/datasets/churn/train/a b.csv"


def test_moto_spelling_of_the_etag_is_accepted() -> None:
    detail = {**EVENTBRIDGE["detail"], "object": {"key": "k", "size": 1, "eTag": "moto-etag"}}
    [ev] = parse_body(S3_SPEC, {**EVENTBRIDGE, "detail": detail})
    assert ev.etag == "moto-etag"


def test_direct_notification_decodes_keys_and_skips_removals() -> None:
    events = parse_body(S3_SPEC, json.dumps(NOTIFICATION))
    assert [e.key for e in events] == ["datasets/churn/train/dir/a b.csv"]
    assert events[0].etag == "e1"


def test_s3_test_event_is_acknowledged_with_nothing_to_do() -> None:
    body = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-22T10:00:00Z",
            "Bucket": "headwater-data", "RequestId": "x", "HostId": "y"}
    assert parse_body(S3_SPEC, json.dumps(body)) == []


@pytest.mark.parametrize("body, message", [
    ("not json at all", "not JSON"),
    ("[1, 2]", "JSON list"),
    (json.dumps({"hello": "world"}), "not an S3 event"),
    (json.dumps({**EVENTBRIDGE, "detail-type": "Object Deleted"}), "expected an S3 'Object Created'"),
    (json.dumps({**EVENTBRIDGE, "detail": {"bucket": {"name": "b"}}}), "detail.object"),
])
def test_malformed_bodies_are_rejected_with_a_reason(body: str, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        parse_body(S3_SPEC, body)


def test_own_events_parse_into_the_declared_model() -> None:
    body = {**EVENTBRIDGE, "source": "headwater.sagemaker", "detail-type": "SageMaker Training Job State Change",
            "detail": {"TrainingJobName": "j", "TrainingJobStatus": "Completed"}}
    [ev] = parse_body(EVENT_SPEC, body)
    assert isinstance(ev, StateChangeEvent)
    assert ev.detail["TrainingJobStatus"] == "Completed"
    with pytest.raises(MalformedEvent, match="StateChangeEvent"):
        parse_body(EVENT_SPEC, {"detail": {}})
