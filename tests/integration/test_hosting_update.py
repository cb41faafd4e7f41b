"""Blue/green ``UpdateEndpoint`` under a bounded loopback load, and the endpoint's state-change events."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import pytest

from tests.integration.hosting_support import (
    csv_row, deploy, expected, model_archive, put_model, train_booster, variant, wait_status,
)
from tests.support import NodeThread

LOAD_THREADS = 4
MAX_REQUESTS = 4000  # the load stops by itself at this count or after MAX_SECONDS
MAX_SECONDS = 90


def _watch_events(node: NodeThread) -> tuple[Any, str]:
    """A queue receiving every "SageMaker Endpoint State Change" on Headwater's bus."""
    sqs, events = node.client("sqs"), node.client("events")
    url = sqs.create_queue(QueueName="endpoint-events-test")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="endpoint-events-test", EventBusName=node.settings.event_bus,
                    EventPattern=json.dumps({"detail-type": ["SageMaker Endpoint State Change"]}))
    events.put_targets(Rule="endpoint-events-test", EventBusName=node.settings.event_bus,
                       Targets=[{"Id": "q", "Arn": arn}])
    return sqs, url


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"):
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_update_is_blue_green_and_no_request_fails(node: NodeThread) -> None:
    sqs, queue = _watch_events(node)
    old, new = train_booster(11), train_booster(12)
    put_model(node, "bg-old", model_archive(old))
    put_model(node, "bg-new", model_archive(new))
    assert deploy(node, "bg", [variant("AllTraffic", "bg-old", count=2)])["EndpointStatus"] == "InService"
    node.client("sagemaker").create_endpoint_config(EndpointConfigName="bg-v2", ProductionVariants=[
        variant("AllTraffic", "bg-new", count=2)])
    assert node.node is not None and node.node.hosting is not None
    old_instances = node.node.hosting.manager.live["bg"].instances()

    body = csv_row(np.array([0.3, -1.2, 0.8, 2.0], dtype=np.float32))
    want_old, want_new = expected(old, body), expected(new, body)
    assert abs(want_old - want_new) > 1e-4  # the two models are told apart by their answer
    stop = threading.Event()
    results: list[tuple[float, float | str]] = []  # (time, score or error)
    lock = threading.Lock()
    deadline = time.monotonic() + MAX_SECONDS

    def load() -> None:
        rt = node.client("sagemaker-runtime")
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                got: float | str = float(rt.invoke_endpoint(EndpointName="bg", Body=body,
                                                            ContentType="text/csv")["Body"].read())
            except Exception as err:  # noqa: BLE001 - every failure is recorded and asserted on
                got = f"{type(err).__name__}: {err}"
            with lock:
                results.append((time.monotonic(), got))
                if len(results) >= MAX_REQUESTS:
                    stop.set()

    threads = [threading.Thread(target=load, daemon=True) for _ in range(LOAD_THREADS)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    node.client("sagemaker").update_endpoint(EndpointName="bg", EndpointConfigName="bg-v2")
    desc = wait_status(node, "bg", ("InService",), timeout=MAX_SECONDS)
    switched = time.monotonic()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(30)

    errors = [r for _, r in results if isinstance(r, str)]
    assert not errors, errors[:3]
    assert desc["EndpointConfigName"] == "bg-v2" and "FailureReason" not in desc
    scores = [r for _, r in results if not isinstance(r, str)]
    assert all(s == pytest.approx(want_old, rel=1e-5) or s == pytest.approx(want_new, rel=1e-5) for s in scores)
    assert scores[0] == pytest.approx(want_old, rel=1e-5)
    after = [r for t, r in results if t > switched + 0.2]
    assert after and all(s == pytest.approx(want_new, rel=1e-5) for s in after)
    assert any(s == pytest.approx(want_old, rel=1e-5) for s in scores[len(scores) // 10:])  # served during update
    assert all(i.stopping for i in old_instances)  # the old fleet was drained and stopped
    assert all(i.healthy for i in node.node.hosting.manager.live["bg"].instances())

    statuses = [e["detail"]["EndpointStatus"] for e in _drain(sqs, queue) if e["detail"]["EndpointName"] == "bg"]
    assert statuses == ["Creating", "InService", "Updating", "InService"], statuses
