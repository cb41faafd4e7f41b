"""Lambda's CloudWatch metrics (``AWS/Lambda``) for user functions, read back with boto3's ``GetMetricStatistics``,
and the throttles ``headwater functions`` shows from them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.cli.functions import print_functions
from tests.integration.functions_support import call, create
from tests.support import CREDS, NodeThread, free_port_settings, wait_for

FLAKY = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("failing on purpose")
    return "ok"
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("node"))).start()
    yield n
    n.stop()


def statistics(cw: Any, function: str, metric: str, statistic: str) -> float | None:
    """``statistic`` of ``metric`` for ``function`` over the last hour (one period), or ``None`` without data."""
    now = datetime.now(timezone.utc)
    points = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName=metric,
                                      Dimensions=[{"Name": "FunctionName", "Value": function}],
                                      StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5),
                                      Period=3900, Statistics=[statistic])["Datapoints"]
    return sum(p[statistic] for p in points) if statistic == "Sum" and points else (
        points[0][statistic] if points else None)


def test_invocations_errors_throttles_and_duration_reach_cloudwatch(
        node: NodeThread, capsys: pytest.CaptureFixture[str]) -> None:
    lam, cw = node.client("lambda"), node.client("cloudwatch")
    create(lam, "metered", FLAKY)
    for event in ({}, {}, {"fail": True}):
        call(lam, "metered", event)
    lam.put_function_concurrency(FunctionName="metered", ReservedConcurrentExecutions=0)
    # boto3 retries a throttled call, and each try is a throttle, as on Lambda: one try a call here.
    once = boto3.client("lambda", endpoint_url=node.endpoints["lambda"],
                        config=Config(retries={"total_max_attempts": 1}), **CREDS)
    for _ in range(2):
        with pytest.raises(ClientError) as err:
            call(once, "metered")
        assert err.value.response["Error"]["Code"] == "TooManyRequestsException"

    wanted = {"Invocations": 3.0, "Errors": 1.0, "Throttles": 2.0}
    wait_for(lambda: all(statistics(cw, "metered", m, "Sum") == v for m, v in wanted.items()), 30,
             what=f"the function's metrics to be {wanted}")
    assert statistics(cw, "metered", "Duration", "SampleCount") == 3.0
    assert (statistics(cw, "metered", "Duration", "Maximum") or 0.0) > 0.0
    assert statistics(cw, "metered", "ConcurrentExecutions", "Maximum") == 1.0

    assert node.run(print_functions(node.settings)) == 0
    [row] = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("metered ")]
    assert row[2:5] == ["3", "1", "2"]  # invocations, errors, throttles
