"""The Application Auto Scaling API on a real node, driven by boto3's ``application-autoscaling`` client.

Shapes, validation and error codes as botocore's model names them,
filters and pagination, and state that outlives a restart of the node (the
node runs over its own emulator here, so a second node can take over the
same state).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.hosting_support import deploy, model_archive, put_model, train_booster, variant
from tests.support import NodeThread, free_port_settings

NS, DIM = "sagemaker", "sagemaker:variant:DesiredInstanceCount"
EP = "as-api"
RID = f"endpoint/{EP}/variant/AllTraffic"
RID_B = f"endpoint/{EP}/variant/Blue"
TRACKING = {"TargetValue": 50.0, "ScaleInCooldown": 60, "ScaleOutCooldown": 30,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("autoscaling-api")


@pytest.fixture(scope="module")
def node(emulator: str, state: Path) -> Iterator[NodeThread]:  # type: ignore[override]
    n = NodeThread(free_port_settings(state, aws_endpoint=emulator)).start()
    put_model(n, "as-model", model_archive(train_booster(3)))
    desc = deploy(n, EP, [variant("AllTraffic", "as-model"), variant("Blue", "as-model")])
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    yield n
    if n._thread.is_alive():  # the restart test stops it itself
        n.stop()


def _code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def _register(aas: Any, rid: str = RID, **kw: Any) -> dict[str, Any]:
    return aas.register_scalable_target(ServiceNamespace=NS, ResourceId=rid, ScalableDimension=DIM, **kw)


def test_register_validates_namespace_dimension_resource_and_capacities(node: NodeThread) -> None:
    aas = node.client("application-autoscaling")
    with pytest.raises(ClientError) as err:
        aas.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/default/web",
                                     ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=2)
    code, message = _code(err)
    assert code == "ValidationException" and "sagemaker:variant:DesiredInstanceCount" in message
    with pytest.raises(ClientError) as err:
        _register(aas, rid=f"endpoint/{EP}/AllTraffic", MinCapacity=1, MaxCapacity=2)
    assert _code(err)[0] == "ValidationException" and "endpoint/<endpoint name>/variant/<variant name>" in \
        _code(err)[1]
    with pytest.raises(ClientError) as err:
        _register(aas, rid="endpoint/no-such-endpoint/variant/AllTraffic", MinCapacity=1, MaxCapacity=2)
    assert _code(err)[0] == "ValidationException" and "no-such-endpoint" in _code(err)[1]
    with pytest.raises(ClientError) as err:
        _register(aas, rid=f"endpoint/{EP}/variant/Green", MinCapacity=1, MaxCapacity=2)
    assert _code(err)[0] == "ValidationException" and "Green" in _code(err)[1] and "AllTraffic" in _code(err)[1]
    with pytest.raises(ClientError) as err:
        _register(aas, MinCapacity=3, MaxCapacity=2)
    assert "cannot be greater than maximum capacity" in _code(err)[1]
    with pytest.raises(ClientError) as err:
        _register(aas, MaxCapacity=2)
    assert "MinCapacity and MaxCapacity are required" in _code(err)[1]
    with pytest.raises(ClientError) as err:  # the model's enum, checked by the server as AWS does
        aas.describe_scalable_targets(ServiceNamespace="nope")
    code, message = _code(err)
    assert code == "ValidationException" and "serviceNamespace" in message and "enum value set" in message
    assert aas.describe_scalable_targets(ServiceNamespace=NS)["ScalableTargets"] == []  # nothing was stored


def test_register_describe_update_and_paginate_targets(node: NodeThread) -> None:
    aas = node.client("application-autoscaling")
    arn = _register(aas, MinCapacity=1, MaxCapacity=4)["ScalableTargetARN"]
    assert arn.startswith("arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/")
    _register(aas, rid=RID_B, MinCapacity=1, MaxCapacity=2)
    assert _register(aas, MaxCapacity=3)["ScalableTargetARN"] == arn  # an update keeps the target
    [t] = aas.describe_scalable_targets(ServiceNamespace=NS, ResourceIds=[RID])["ScalableTargets"]
    assert (t["ResourceId"], t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"]) == (RID, DIM, 1, 3)
    assert t["RoleARN"].endswith("/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
    assert t["SuspendedState"] == {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False,
                                   "ScheduledScalingSuspended": False}
    assert t["ScalableTargetARN"] == arn and t["CreationTime"].year >= 2024
    first = aas.describe_scalable_targets(ServiceNamespace=NS, MaxResults=1)
    second = aas.describe_scalable_targets(ServiceNamespace=NS, MaxResults=1, NextToken=first["NextToken"])
    assert "NextToken" not in second
    assert {first["ScalableTargets"][0]["ResourceId"], second["ScalableTargets"][0]["ResourceId"]} == {RID, RID_B}
    pages = aas.get_paginator("describe_scalable_targets").paginate(ServiceNamespace=NS,
                                                                    PaginationConfig={"PageSize": 1})
    assert sorted(t["ResourceId"] for p in pages for t in p["ScalableTargets"]) == sorted([RID, RID_B])
    assert aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    with pytest.raises(ClientError) as err:
        aas.describe_scalable_targets(ServiceNamespace=NS, NextToken="not-a-token")
    assert _code(err)[0] == "InvalidNextTokenException"
    with pytest.raises(ClientError) as err:
        aas.describe_scalable_targets(ServiceNamespace=NS, MaxResults=51)
    assert _code(err)[0] == "ValidationException" and "maxResults" in _code(err)[1]


def test_policies_are_put_described_replaced_paginated_and_deleted(node: NodeThread) -> None:
    aas = node.client("application-autoscaling")
    _register(aas, MinCapacity=1, MaxCapacity=3)
    common = dict(ServiceNamespace=NS, ResourceId=RID, ScalableDimension=DIM)
    with pytest.raises(ClientError) as err:
        aas.put_scaling_policy(PolicyName="p", PolicyType="TargetTrackingScaling", ServiceNamespace=NS,
                               ResourceId=f"endpoint/{EP}/variant/Unregistered", ScalableDimension=DIM,
                               TargetTrackingScalingPolicyConfiguration=TRACKING)
    assert _code(err) == ("ObjectNotFoundException", "No scalable target registered for service namespace: "
                          f"sagemaker, resource ID: endpoint/{EP}/variant/Unregistered, scalable dimension: {DIM}")
    out = aas.put_scaling_policy(PolicyName="p", PolicyType="TargetTrackingScaling",
                                 TargetTrackingScalingPolicyConfiguration=TRACKING, **common)
    assert out["PolicyARN"].startswith("arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:")
    assert out["PolicyARN"].endswith(f":resource/sagemaker/{RID}:policyName/p")
    assert sorted(a["AlarmName"].split("-")[-6] for a in out["Alarms"]) == ["AlarmHigh", "AlarmLow"]
    [p] = aas.describe_scaling_policies(ServiceNamespace=NS, PolicyNames=["p"])["ScalingPolicies"]
    assert p["PolicyType"] == "TargetTrackingScaling" and p["TargetTrackingScalingPolicyConfiguration"] == TRACKING
    assert p["PolicyARN"] == out["PolicyARN"] and p["ResourceId"] == RID and "CreationTime" in p
    again = aas.put_scaling_policy(PolicyName="p", PolicyType="TargetTrackingScaling",
                                   TargetTrackingScalingPolicyConfiguration={**TRACKING, "TargetValue": 80.0}, **common)
    assert again["PolicyARN"] == out["PolicyARN"]
    [p] = aas.describe_scaling_policies(ServiceNamespace=NS, ResourceId=RID, PolicyNames=["p"])["ScalingPolicies"]
    assert p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 80.0
    for bad, words in [
        ({"TargetValue": 5.0,
          "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}},
         "SageMakerVariantInvocationsPerInstance"),
        ({"TargetValue": 5.0}, "Exactly one of"),
        ({**TRACKING, "TargetValue": 0.0}, "greater than 0"),
    ]:
        with pytest.raises(ClientError) as err:
            aas.put_scaling_policy(PolicyName="bad", PolicyType="TargetTrackingScaling",
                                   TargetTrackingScalingPolicyConfiguration=bad, **common)
        assert _code(err)[0] == "ValidationException" and words in _code(err)[1]
    step = {"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [{"ScalingAdjustment": 1,
                                                                        "MetricIntervalLowerBound": 0.0}]}
    for n in range(11):  # more than one page of 10 (the default and the maximum)
        aas.put_scaling_policy(PolicyName=f"step-{n:02d}", StepScalingPolicyConfiguration=step, **common)
    first = aas.describe_scaling_policies(ServiceNamespace=NS, ResourceId=RID)
    assert len(first["ScalingPolicies"]) == 10 and first["NextToken"]
    rest = aas.describe_scaling_policies(ServiceNamespace=NS, ResourceId=RID, NextToken=first["NextToken"])
    names = [p["PolicyName"] for p in first["ScalingPolicies"] + rest["ScalingPolicies"]]
    assert sorted(names) == sorted(["p", *[f"step-{n:02d}" for n in range(11)]])
    assert {p["PolicyType"] for p in rest["ScalingPolicies"] + first["ScalingPolicies"]} == \
        {"TargetTrackingScaling", "StepScaling"}  # PolicyType defaults to StepScaling, as on AWS
    for n in range(11):
        aas.delete_scaling_policy(PolicyName=f"step-{n:02d}", **common)
    with pytest.raises(ClientError) as err:
        aas.delete_scaling_policy(PolicyName="step-00", **common)
    assert _code(err)[0] == "ObjectNotFoundException" and "policy name: step-00" in _code(err)[1]
    assert [p["PolicyName"] for p in aas.describe_scaling_policies(ServiceNamespace=NS)["ScalingPolicies"]] == ["p"]
    assert aas.describe_scaling_activities(ServiceNamespace=NS, ResourceId=RID_B)["ScalingActivities"] == []


def test_state_survives_a_restart_and_deregistering_removes_policies(node: NodeThread, emulator: str,
                                                                     state: Path) -> None:
    aas = node.client("application-autoscaling")
    _register(aas, MinCapacity=1, MaxCapacity=3)
    aas.put_scaling_policy(PolicyName="keep", PolicyType="TargetTrackingScaling", ServiceNamespace=NS,
                           ResourceId=RID, ScalableDimension=DIM, TargetTrackingScalingPolicyConfiguration=TRACKING)
    before = aas.describe_scalable_targets(ServiceNamespace=NS)["ScalableTargets"]
    node.stop()
    again = NodeThread(free_port_settings(state, aws_endpoint=emulator)).start()
    try:
        aas = again.client("application-autoscaling")
        assert aas.describe_scalable_targets(ServiceNamespace=NS)["ScalableTargets"] == before
        policies = aas.describe_scaling_policies(ServiceNamespace=NS)["ScalingPolicies"]
        assert "keep" in [p["PolicyName"] for p in policies]
        aas.deregister_scalable_target(ServiceNamespace=NS, ResourceId=RID, ScalableDimension=DIM)
        assert aas.describe_scaling_policies(ServiceNamespace=NS, ResourceId=RID)["ScalingPolicies"] == []
        with pytest.raises(ClientError) as err:
            aas.deregister_scalable_target(ServiceNamespace=NS, ResourceId=RID, ScalableDimension=DIM)
        assert _code(err)[0] == "ObjectNotFoundException"
    finally:
        again.stop()
