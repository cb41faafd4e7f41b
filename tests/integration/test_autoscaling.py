"""Endpoint autoscaling on a real node: a bounded loopback load scales a variant out to its maximum,
and the lull after it scales the variant back in to its minimum.

The user's code is unchanged Application Auto Scaling code: a boto3
``application-autoscaling`` client found through
``AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING``. The node's metric period and
windows are short (settings), the decisions the same as with AWS's minute.
Assertions are on scaling activities and ``DescribeEndpoint``, never on
how long anything took.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from infra.cli.main import main as cli_main
from tests.integration.hosting_support import csv_row, deploy, model_archive, put_model, train_booster, variant
from tests.sdk_env import sdk_environment
from tests.support import NodeThread, free_port_settings, wait_for

EP = "as-load"
RID = f"endpoint/{EP}/variant/AllTraffic"
DIM = "sagemaker:variant:DesiredInstanceCount"
OUT_COOLDOWN, IN_COOLDOWN = 2, 2
ROWS = np.random.default_rng(5).normal(size=(50, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:  # type: ignore[override]
    settings = free_port_settings(tmp_path_factory.mktemp("autoscaling"), autoscaling_tick_seconds=0.25,
                                  autoscaling_metric_period_seconds=1.0, autoscaling_scale_out_periods=2,
                                  autoscaling_scale_in_periods=3)
    n = NodeThread(settings).start()
    yield n
    n.stop()


@pytest.fixture()
def aas(node: NodeThread, tmp_path: Path) -> Iterator[Any]:
    """The user's client: endpoint from the environment only."""
    with sdk_environment(node, tmp_path):
        yield boto3.client("application-autoscaling")


def _load(node: NodeThread, stop: threading.Event, requests: int = 3000, threads: int = 4,
          seconds: float = 60.0) -> list[int]:
    """Send at most ``requests`` invocations in at most ``seconds``, from ``threads`` threads; then stop."""
    deadline = time.monotonic() + seconds
    sent = [0] * threads
    lock = threading.Lock()
    budget = [requests]

    def worker(n: int) -> None:
        rt = node.client("sagemaker-runtime")
        while not stop.is_set() and time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            rt.invoke_endpoint(EndpointName=EP, ContentType="text/csv", Body=csv_row(ROWS[sent[n] % len(ROWS)]))
            sent[n] += 1

    pool = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 30)
    return sent


def _variant(node: NodeThread) -> dict[str, Any]:
    return node.client("sagemaker").describe_endpoint(EndpointName=EP)["ProductionVariants"][0]


def _activities(aas: Any) -> list[dict[str, Any]]:
    return aas.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=RID)["ScalingActivities"]


def test_load_scales_out_to_max_and_the_lull_scales_back_in_to_min(node: NodeThread, aas: Any) -> None:
    put_model(node, "as-load-model", model_archive(train_booster(4)))
    assert deploy(node, EP, [variant("AllTraffic", "as-load-model", count=1)])["EndpointStatus"] == "InService"
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM,
                                 MinCapacity=1, MaxCapacity=3)
    # 60 invocations per instance per minute: any real load is far above it.
    aas.put_scaling_policy(PolicyName="p", ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM,
                           PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration={
                               "TargetValue": 60.0,
                               "PredefinedMetricSpecification": {
                                   "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                               "ScaleInCooldown": IN_COOLDOWN, "ScaleOutCooldown": OUT_COOLDOWN})
    assert _activities(aas) == []

    stop = threading.Event()
    loader = threading.Thread(target=lambda: _load(node, stop), daemon=True)
    loader.start()
    try:
        wait_for(lambda: _variant(node)["CurrentInstanceCount"] == 3, timeout=90, interval=0.25,
                 what="the variant to scale out to MaxCapacity under load")
    finally:
        stop.set()
        loader.join(60)
    assert not loader.is_alive()
    out = wait_for(lambda: [a for a in _activities(aas) if a["StatusCode"] == "Successful"
                            and a["Description"].endswith(" 3.")], timeout=30, what="the scale-out to 3 to succeed")
    assert out[0]["Description"] == "Setting desired instance count to 3."
    assert out[0]["Cause"].startswith(f"monitor alarm TargetTracking-{RID}-AlarmHigh-")
    assert out[0]["Cause"].endswith("in state ALARM triggered policy p")
    assert out[0]["StatusMessage"] == "Successfully set desired instance count to 3. Change successfully fulfilled " \
                                      "by sagemaker."
    assert out[0]["EndTime"] >= out[0]["StartTime"]
    pv = _variant(node)
    assert pv["DesiredInstanceCount"] == pv["CurrentInstanceCount"]

    # The load has stopped: the lull scales back in to MinCapacity.
    wait_for(lambda: _variant(node)["CurrentInstanceCount"] == 1, timeout=90, interval=0.25,
             what="the variant to scale back in to MinCapacity")
    activities = wait_for(lambda: (lambda a: a if a[0]["StatusCode"] == "Successful" else None)(_activities(aas)),
                          timeout=30, what="the scale-in activity to succeed")
    scale_in = activities[0]
    assert scale_in["Description"] == "Setting desired instance count to 1."
    assert scale_in["Cause"].startswith(f"monitor alarm TargetTracking-{RID}-AlarmLow-")
    outs = [a for a in activities if "AlarmHigh" in a["Cause"]]
    assert outs and all(a["StatusCode"] == "Successful" for a in activities)
    # Cooldowns: each scale-out starts at least ScaleOutCooldown after the previous one ended, and the
    # scale-in came after the last scale-out.
    for newer, older in zip(outs, outs[1:]):
        assert (newer["StartTime"] - older["EndTime"]).total_seconds() >= OUT_COOLDOWN
    assert scale_in["StartTime"] >= outs[0]["EndTime"]
    pv = _variant(node)
    assert (pv["CurrentInstanceCount"], pv["DesiredInstanceCount"]) == (1, 1)
    # The endpoint still answers from its one remaining instance.
    rt = node.client("sagemaker-runtime")
    assert rt.invoke_endpoint(EndpointName=EP, ContentType="text/csv", Body=csv_row(ROWS[0]))["Body"].read()


def test_raising_min_capacity_scales_to_it_and_deleting_the_endpoint_deregisters(
        node: NodeThread, aas: Any, capsys: pytest.CaptureFixture[str]) -> None:
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM, MinCapacity=2)
    wait_for(lambda: _variant(node)["CurrentInstanceCount"] == 2, timeout=60, interval=0.25,
             what="the variant to reach the new MinCapacity")
    latest = wait_for(lambda: (lambda a: a[0] if a[0]["StatusCode"] == "Successful" else None)(_activities(aas)),
                      timeout=30, what="the min-capacity activity to succeed")
    assert (latest["Description"], latest["Cause"]) == ("Setting desired instance count to 2.",
                                                        "minimum capacity was set to 2")
    # The CLI's read-only view: the target, its policy and the latest activities.
    assert cli_main(["--state-dir", str(node.settings.state_dir), "autoscaling", "--activities", "3"]) == 0
    shown = capsys.readouterr().out
    assert RID in shown and "p (SageMakerVariantInvocationsPerInstance target 60" in shown and "2/2" in shown
    assert "minimum capacity was set to 2" in shown and "Setting desired instance count to 1." in shown
    node.client("sagemaker").delete_endpoint(EndpointName=EP)
    wait_for(lambda: aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == [],
             timeout=60, what="the deleted endpoint's scalable target to be deregistered")
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []
