"""The handler runtime on a real moto server: retries, dead letters, duplicates."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support import NodeThread, wait_for

HANDLER = "start-training-on-upload"


def _queue_url(node: NodeThread, sqs: Any, name: str) -> str:
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def _eventbridge_s3_event(bucket: str, key: str, etag: str) -> dict[str, Any]:
    return {"version": "0", "id": "b1c2", "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2026-11-22T10:00:00Z", "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"version": "0", "bucket": {"name": bucket},
                       "object": {"key": key, "size": 10, "etag": etag, "sequencer": "01"}, "reason": "PutObject"}}


def _csv(rows: int = 60) -> bytes:
    return b"".join(f"{i % 2},{i},{(i * 7) % 5}\n".encode() for i in range(rows))


def test_poison_message_is_dead_lettered_with_its_error_and_serving_goes_on(node: NodeThread) -> None:
    s = node.settings
    sqs, s3, sm = node.client("sqs"), node.client("s3"), node.client("sagemaker")
    queue = _queue_url(node, sqs, s.queue_name(HANDLER))
    dlq = _queue_url(node, sqs, s.dlq_name(HANDLER))
    sqs.send_message(QueueUrl=queue, MessageBody='{"this is": "not an S3 event"}')

    def dead() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])

    [msg] = wait_for(dead, timeout=40, what="the poison message in the DLQ")
    attrs = {k: v["StringValue"] for k, v in msg["MessageAttributes"].items()}
    assert attrs["ErrorType"] == "MalformedEvent"
    assert "not an S3 event" in attrs["ErrorMessage"]
    assert attrs["Handler"] == HANDLER
    assert int(attrs["Attempts"]) == s.max_receive_count  # retried, then dead-lettered
    assert json.loads(msg["Body"]) == {"this is": "not an S3 event"}  # the payload is kept as sent
    wait_for(lambda: node.runtime_stats(HANDLER)["dead_lettered"] >= 1, timeout=10, what="the dead-letter count")
    assert node.runtime_stats(HANDLER)["failed"] >= s.max_receive_count

    # the runtime still serves: a real upload after the poison message trains
    s3.put_object(Bucket=s.data_bucket, Key="datasets/after-poison/train/a.csv", Body=_csv())
    wait_for(lambda: sm.list_training_jobs(NameContains="after-poison")["TrainingJobSummaries"], timeout=30,
             what="a job after the poison message")


def test_the_same_event_twice_creates_one_job(node: NodeThread) -> None:
    s = node.settings
    sqs, s3, sm = node.client("sqs"), node.client("s3"), node.client("sagemaker")
    key = "datasets/twice/train/a.csv"
    etag = s3.put_object(Bucket=s.data_bucket, Key=key, Body=_csv())["ETag"]
    queue = _queue_url(node, sqs, s.queue_name(HANDLER))
    # the upload delivered one event; deliver the same one twice more, as SQS may
    event = json.dumps(_eventbridge_s3_event(s.data_bucket, key, etag.strip('"')))
    sqs.send_message(QueueUrl=queue, MessageBody=event)
    sqs.send_message(QueueUrl=queue, MessageBody=event)
    wait_for(lambda: node.runtime_stats(HANDLER)["succeeded"] >= 3, timeout=30, what="three deliveries handled")
    jobs = sm.list_training_jobs(NameContains="twice")["TrainingJobSummaries"]
    assert len(jobs) == 1, jobs


def test_a_batch_fails_only_its_bad_message(node: NodeThread) -> None:
    from handlers.registry import REGISTRY
    from services.core.queues import QueueMessage

    s = node.settings
    s3 = node.client("s3")
    key = "datasets/batch/train/a.csv"
    etag = s3.put_object(Bucket=s.data_bucket, Key=key, Body=_csv())["ETag"].strip('"')
    good = QueueMessage("good", "rh-good", json.dumps(_eventbridge_s3_event(s.data_bucket, key, etag)), 1)
    bad = QueueMessage("bad", "rh-bad", "{}", 1)

    async def run() -> Any:
        assert node.node is not None and node.node.runtime is not None
        rt = node.node.runtime
        # a private runtime view whose SQS calls are recorded, not sent
        calls: list[tuple[str, str]] = []

        class RecordingSqs:
            async def delete(self, queue: str, handle: str) -> None:
                calls.append(("delete", handle))

            async def change_visibility(self, queue: str, handle: str, seconds: int) -> None:
                calls.append(("retry", handle))

            async def send(self, *a: Any, **k: Any) -> str:
                calls.append(("dead-letter", "?"))
                return "x"

        from handlers.runtime import HandlerRuntime

        private = HandlerRuntime(rt.settings, RecordingSqs(), rt.deps, rt.specs)  # type: ignore[arg-type]
        result = await private.process_batch(REGISTRY[HANDLER], [good, bad])
        return result, calls

    result, calls = node.run(run())
    assert result.as_lambda_response() == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert sorted(calls) == [("delete", "rh-good"), ("retry", "rh-bad")]


def test_a_handler_longer_than_the_visibility_timeout_runs_once(node: NodeThread) -> None:
    """The runtime extends a message's visibility while its handler runs."""
    import asyncio

    from handlers.registry import HandlerSpec, OnS3Notification
    from handlers.runtime import HandlerRuntime

    s = node.settings.model_copy(update={"visibility_timeout": 2, "poll_wait_seconds": 1})
    sqs = node.client("sqs")
    dlq = sqs.create_queue(QueueName=s.dlq_name("slow-test"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName=s.queue_name("slow-test"), Attributes={
        "VisibilityTimeout": "2", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})})[
        "QueueUrl"]
    calls: list[str] = []

    async def slow(event: Any, deps: Any) -> None:
        calls.append(event.key)
        await asyncio.sleep(5)  # 2.5 visibility timeouts

    spec = HandlerSpec(name="slow-test", func=slow, trigger=OnS3Notification(bucket="data_bucket"))
    body = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "eventTime": "2026-11-22T10:00:00.000Z",
                         "s3": {"bucket": {"name": "b"}, "object": {"key": "slow.csv", "eTag": "e"}}}]}
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))

    async def serve_for(seconds: float) -> HandlerRuntime:
        assert node.node is not None and node.node.runtime is not None and node.node.services is not None
        runtime = HandlerRuntime(s, node.node.services.sqs, node.node.runtime.deps, {"slow-test": spec})
        stop = asyncio.Event()
        task = asyncio.create_task(runtime.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task
        return runtime

    assert node.loop is not None
    future = asyncio.run_coroutine_threadsafe(serve_for(9), node.loop)
    # a second consumer (another node) polls while the handler runs: it must see nothing
    wait_for(lambda: calls, timeout=5, what="the handler to start")
    seen = []
    for _ in range(4):
        time.sleep(1)
        seen += sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0, VisibilityTimeout=30).get("Messages", [])
    runtime = future.result(30)
    assert seen == []  # the message stayed invisible past its 2 s timeout
    assert calls == ["slow.csv"]
    assert dict(runtime.stats["slow-test"]) == {"succeeded": 1}
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
