"""A handler deployed as a Lambda function reports every record of an SQS batch that failed.

With an SQS event source mapping, Lambda deletes the messages of a batch the
function returned from and retries (then dead-letters) the rest: with
``ReportBatchItemFailures``, the ``batchItemFailures`` ids; without it, all of
them, but only when the function raised. So a failed record's error must
reach the function's log, and a batch in which every record failed must
raise, or a mapping without ``ReportBatchItemFailures`` deletes them all.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from handlers.exceptions import BatchFailed
from handlers.lambda_adapter import invoke
from handlers.registry import HandlerSpec, OnEvent
from handlers.runtime import BatchResult

DETAIL_TYPE = "SageMaker Training Job State Change"


def _record(message_id: str, job: str) -> dict[str, Any]:
    body = {"version": "0", "id": message_id, "detail-type": DETAIL_TYPE, "source": "headwater.sagemaker",
            "account": "123456789012", "time": "2026-11-22T10:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"TrainingJobName": job}}
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": json.dumps(body),
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:headwater-q"}


async def _picky(event: Any, deps: Any) -> None:
    if event.detail["TrainingJobName"].startswith("bad"):
        raise ValueError(f"cannot handle {event.detail['TrainingJobName']}")


SPEC = HandlerSpec(name="picky", func=_picky, trigger=OnEvent(detail_type=(DETAIL_TYPE,)))


async def test_a_failed_record_is_reported_with_its_error(caplog: pytest.LogCaptureFixture) -> None:
    event = {"Records": [_record("m-1", "good"), _record("m-2", "bad-one"), _record("m-3", "good-too")]}
    with caplog.at_level(logging.ERROR, logger="handlers.lambda_adapter"):
        result = await invoke(SPEC, event, None)  # type: ignore[arg-type]
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}  # only m-2 is retried
    [line] = [r.getMessage() for r in caplog.records if "m-2" in r.getMessage()]
    assert "picky" in line and "ValueError: cannot handle bad-one" in line
    assert not [r for r in caplog.records if "m-1" in r.getMessage() or "m-3" in r.getMessage()]


async def test_a_batch_whose_every_record_failed_raises_so_all_are_retried() -> None:
    event = {"Records": [_record("m-1", "bad-a"), _record("m-2", "bad-b")]}
    with pytest.raises(BatchFailed) as err:
        await invoke(SPEC, event, None)  # type: ignore[arg-type]
    assert "m-1: ValueError: cannot handle bad-a" in str(err.value)
    assert "m-2: ValueError: cannot handle bad-b" in str(err.value)


async def test_a_batch_without_failures_reports_none() -> None:
    assert await invoke(SPEC, {"Records": [_record("m-1", "good")]}, None) == {"batchItemFailures": []}  # type: ignore[arg-type]


def test_a_batch_result_keeps_each_error_out_of_lambdas_response() -> None:
    result = BatchResult(["m-2"], {"m-2": "ValueError: no"})
    assert result.as_lambda_response() == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
