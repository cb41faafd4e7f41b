"""The stack is declared from the handler registry."""

from __future__ import annotations

from handlers.registry import load_handlers
from infra.stack import declare_stack
from services.core.settings import Settings


def test_every_handler_gets_a_queue_with_a_dlq_and_its_rule() -> None:
    settings = Settings()
    handlers = load_handlers()
    assert "start-training-on-upload" in handlers
    stack = declare_stack(settings, handlers)
    queues = {q.name: q for q in stack.queues}
    for name in handlers:
        q = queues[settings.queue_name(name)]
        assert q.dlq == settings.dlq_name(name)
        # the runtime dead-letters on its last receive; SQS's redrive is one later
        assert q.max_receive_count == settings.max_receive_count + 1
    assert settings.queue_name("tasks") in queues
    [rule] = [r for r in stack.rules if r.queue == settings.queue_name("start-training-on-upload")]
    assert rule.bus == "default"  # S3 delivers to the default bus only
    assert rule.pattern == {
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["headwater-data"]},
                   "object": {"key": [{"wildcard": "datasets/*/train/*"}]}},
    }
    assert stack.eventbridge_buckets == ["headwater-data"]
    assert set(stack.buckets) == {"headwater-data", "headwater-artifacts", "headwater-system"}


def test_names_follow_settings() -> None:
    settings = Settings(data_bucket="my-data", resource_prefix="hw2")
    stack = declare_stack(settings, load_handlers())
    assert all(q.name.startswith("hw2-") for q in stack.queues)
    s3_rules = [r for r in stack.rules if r.pattern.get("source") == ["aws.s3"]]
    assert s3_rules and all(r.pattern["detail"]["bucket"]["name"] == ["my-data"] for r in s3_rules)
