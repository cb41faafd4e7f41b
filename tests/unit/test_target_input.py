"""A rule target's input: the event, ``Input``, ``InputPath`` and ``InputTransformer``, as EventBridge builds them."""

from __future__ import annotations

import json

import pytest

from services.functions.target_input import TargetInputError, target_input

EVENT = {"version": "0", "id": "e-1", "detail-type": "Object Created", "source": "aws.s3", "time": "2026-01-02T03:04:05Z",
         "resources": ["arn:aws:s3:::raw"],
         "detail": {"bucket": {"name": "raw"}, "object": {"key": "raw/a \"b\".csv", "size": 12},
                    "tags": ["x", "y"]}}
RULE = "arn:aws:events:us-east-1:123456789012:rule/clean"


def build(target: dict[str, object]) -> object:
    return json.loads(target_input(target, EVENT, rule_arn=RULE, rule_name="clean"))


def test_the_whole_event_without_settings_and_input_as_given() -> None:
    assert build({"Id": "t"}) == EVENT
    assert build({"Id": "t", "Input": '{"fixed": 1}'}) == {"fixed": 1}


@pytest.mark.parametrize("path, expected", [
    ("$", EVENT), ("$.detail.object", EVENT["detail"]["object"]),  # type: ignore[index]
    ("$.detail-type", "Object Created"), ("$['detail-type']", "Object Created"),
    ("$.detail.tags[1]", "y"), ("$.detail.nothing", None), ("$.detail.tags[5]", None),
])
def test_input_path(path: str, expected: object) -> None:
    assert build({"Id": "t", "InputPath": path}) == expected


def test_input_transformer_fills_json_values_and_escaped_text() -> None:
    got = build({"Id": "t", "InputTransformer": {
        "InputPathsMap": {"key": "$.detail.object.key", "size": "$.detail.object.size", "obj": "$.detail.object",
                          "gone": "$.detail.missing"},
        "InputTemplate": '{"k": <key>, "msg": "got <key> (<size> bytes)", "o": <obj>, "g": <gone>, '
                         '"rule": "<aws.events.rule-name>", "arn": <aws.events.rule-arn>, "e": <aws.events.event>, '
                         '"lt": "<not-a-var>"}'}})
    assert got == {"k": 'raw/a "b".csv', "msg": 'got raw/a "b".csv (12 bytes)', "o": EVENT["detail"]["object"],  # type: ignore[index]
                   "g": None, "rule": "clean", "arn": RULE, "e": EVENT, "lt": "<not-a-var>"}


def test_a_text_template_becomes_a_json_string() -> None:
    assert build({"Id": "t", "InputTransformer": {"InputPathsMap": {"b": "$.detail.bucket.name"},
                                                  "InputTemplate": "<b> has a new object"}}) == "raw has a new object"


def test_a_bad_path_is_refused() -> None:
    with pytest.raises(TargetInputError):
        build({"Id": "t", "InputPath": "detail"})
