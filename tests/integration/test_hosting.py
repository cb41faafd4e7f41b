"""Hosting on a real node: models, configs, endpoints, invocation and its errors, capture, shadows.

Every instance is a real ``python -m containers.xgboost serve`` process on
a loopback port; everything is driven with boto3's ``sagemaker`` and
``sagemaker-runtime`` clients over HTTP.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.integration.hosting_support import (
    IMAGE, ROLE, csv_row, deploy, expected, model_archive, put_model, train_booster, variant, wait_status,
)
from tests.support import NodeThread, wait_for

ROWS = np.random.default_rng(7).normal(size=(20, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def boosters() -> dict[str, Any]:
    return {"a": train_booster(1), "b": train_booster(2)}


@pytest.fixture(scope="module")
def served(node: NodeThread, boosters: dict[str, Any]) -> str:
    """Endpoint ``ep-main`` on model ``m-a``, one instance."""
    put_model(node, "m-a", model_archive(boosters["a"]))
    put_model(node, "m-b", model_archive(boosters["b"]))
    desc = deploy(node, "ep-main", [variant("AllTraffic", "m-a")])
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    return "ep-main"


def test_models_and_configs_are_described_listed_and_tagged(node: NodeThread, served: str) -> None:
    sm = node.client("sagemaker")
    m = sm.describe_model(ModelName="m-a")
    assert m["ModelArn"].endswith(":model/m-a") and m["PrimaryContainer"]["Image"] == IMAGE
    assert m["ExecutionRoleArn"] == ROLE and "Tags" not in m
    assert {x["ModelName"] for x in sm.list_models(NameContains="m-")["Models"]} >= {"m-a", "m-b"}
    sm.add_tags(ResourceArn=m["ModelArn"], Tags=[{"Key": "team", "Value": "ml"}])
    assert sm.list_tags(ResourceArn=m["ModelArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]
    c = sm.describe_endpoint_config(EndpointConfigName="ep-main-cfg")
    assert c["ProductionVariants"][0]["ModelName"] == "m-a" and c["ProductionVariants"][0]["InitialVariantWeight"] == 1
    with pytest.raises(ClientError) as err:
        sm.create_model(ModelName="m-a", PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=ROLE)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "Cannot create already existing model" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.create_endpoint_config(EndpointConfigName="bad", ProductionVariants=[variant("v", "no-such-model")])
    assert "Could not find model" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.describe_endpoint(EndpointName="no-such-endpoint")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find endpoint" in err.value.response["Error"]["Message"]
    sm.create_model(ModelName="m-tmp", PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=ROLE)
    sm.delete_model(ModelName="m-tmp")
    with pytest.raises(ClientError):
        sm.describe_model(ModelName="m-tmp")


def test_endpoint_is_in_service_with_its_variants(node: NodeThread, served: str) -> None:
    sm = node.client("sagemaker")
    d = sm.describe_endpoint(EndpointName=served)
    [pv] = d["ProductionVariants"]
    assert (pv["VariantName"], pv["CurrentInstanceCount"], pv["CurrentWeight"]) == ("AllTraffic", 1, 1.0)
    assert pv["DeployedImages"][0]["SpecifiedImage"] == IMAGE
    assert d["EndpointConfigName"] == "ep-main-cfg" and "FailureReason" not in d
    listed = sm.list_endpoints(StatusEquals="InService", NameContains="ep-main")["Endpoints"]
    assert [e["EndpointName"] for e in listed] == ["ep-main"]


def test_invoke_endpoint_answers_with_the_models_predictions(node: NodeThread, served: str,
                                                             boosters: dict[str, Any]) -> None:
    rt = node.client("sagemaker-runtime")
    body = csv_row(ROWS[0])
    resp = rt.invoke_endpoint(EndpointName=served, Body=body, ContentType="text/csv", Accept="text/csv",
                              CustomAttributes="trace=1")
    assert resp["InvokedProductionVariant"] == "AllTraffic"
    assert resp["ContentType"] == "text/csv" and resp["CustomAttributes"] == "trace=1"
    assert float(resp["Body"].read()) == pytest.approx(expected(boosters["a"], body), rel=1e-5)
    resp = rt.invoke_endpoint(EndpointName=served, Body=json.dumps(ROWS[:3].tolist()),
                              ContentType="application/json", Accept="application/json")
    scores = [p["score"] for p in json.loads(resp["Body"].read())["predictions"]]
    assert np.allclose(scores, boosters["a"].inplace_predict(ROWS[:3]), rtol=1e-5)


def test_invoke_endpoint_with_response_stream_answers_an_event_stream(node: NodeThread, served: str,
                                                                      boosters: dict[str, Any]) -> None:
    rt = node.client("sagemaker-runtime")
    body = csv_row(ROWS[1])
    resp = rt.invoke_endpoint_with_response_stream(EndpointName=served, Body=body, ContentType="text/csv",
                                                   Accept="text/csv", CustomAttributes="trace=2")
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    assert resp["InvokedProductionVariant"] == "AllTraffic"
    assert resp["ContentType"] == "text/csv" and resp["CustomAttributes"] == "trace=2"
    # The built-in container answers in one piece: one PayloadPart, then the stream ends.
    events = list(resp["Body"])
    assert [list(e) for e in events] == [["PayloadPart"]]
    assert float(events[0]["PayloadPart"]["Bytes"]) == pytest.approx(expected(boosters["a"], body), rel=1e-5)
    # The Accept type travels in X-Amzn-SageMaker-Accept, and reaches the container.
    resp = rt.invoke_endpoint_with_response_stream(EndpointName=served, Body=body, ContentType="text/csv",
                                                   Accept="application/json")
    assert resp["ContentType"] == "application/json"
    [event] = list(resp["Body"])
    assert json.loads(event["PayloadPart"]["Bytes"])["predictions"][0]["score"] == pytest.approx(
        expected(boosters["a"], body), rel=1e-5)
    # Errors before the stream starts are the runtime's own, as for InvokeEndpoint.
    with pytest.raises(rt.exceptions.ModelError) as err:
        rt.invoke_endpoint_with_response_stream(EndpointName=served, Body=b"1,2,oops,4", ContentType="text/csv")
    assert err.value.response["OriginalStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint_with_response_stream(EndpointName="nope", Body=b"1,2,3,4", ContentType="text/csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_runtime_errors_are_the_ones_boto3_users_see(node: NodeThread, served: str) -> None:
    rt = node.client("sagemaker-runtime")
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="nope", Body=b"1,2,3,4", ContentType="text/csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "Endpoint nope of account" in err.value.response["Error"]["Message"]

    with pytest.raises(rt.exceptions.ModelError) as err:
        rt.invoke_endpoint(EndpointName=served, Body=b"1,2,oops,4", ContentType="text/csv")
    r = err.value.response
    assert r["OriginalStatusCode"] == 400 and "'oops' is not a number" in r["OriginalMessage"]
    assert "Received client error (400) from primary" in r["Error"]["Message"]
    assert r["LogStreamArn"].endswith("log-group:/aws/sagemaker/Endpoints/ep-main")

    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=served, Body=b"1" * (6 * 1024 * 1024 + 1), ContentType="text/csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"

    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=served, Body=b"1,2,3,4", ContentType="text/csv", TargetVariant="Nope")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    # and the endpoint still serves
    assert rt.invoke_endpoint(EndpointName=served, Body=b"1,2,3,4", ContentType="text/csv")["Body"].read()


def test_weights_target_variant_and_capacity(node: NodeThread, boosters: dict[str, Any]) -> None:
    sm, rt = node.client("sagemaker"), node.client("sagemaker-runtime")
    desc = deploy(node, "ep-split", [variant("A", "m-a", weight=1.0), variant("B", "m-b", weight=0.0)])
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    body = csv_row(ROWS[1])
    seen = {rt.invoke_endpoint(EndpointName="ep-split", Body=body, ContentType="text/csv")["InvokedProductionVariant"]
            for _ in range(10)}
    assert seen == {"A"}
    resp = rt.invoke_endpoint(EndpointName="ep-split", Body=body, ContentType="text/csv", TargetVariant="B")
    assert resp["InvokedProductionVariant"] == "B"
    assert float(resp["Body"].read()) == pytest.approx(expected(boosters["b"], body), rel=1e-5)

    sm.update_endpoint_weights_and_capacities(EndpointName="ep-split", DesiredWeightsAndCapacities=[
        {"VariantName": "A", "DesiredWeight": 0.0}, {"VariantName": "B", "DesiredWeight": 1.0,
                                                     "DesiredInstanceCount": 2}])
    desc = wait_status(node, "ep-split", ("InService",))
    by_name = {v["VariantName"]: v for v in desc["ProductionVariants"]}
    assert by_name["B"]["CurrentInstanceCount"] == 2 and by_name["B"]["CurrentWeight"] == 1.0
    seen = {rt.invoke_endpoint(EndpointName="ep-split", Body=body, ContentType="text/csv")["InvokedProductionVariant"]
            for _ in range(10)}
    assert seen == {"B"}
    with pytest.raises(ClientError) as err:
        sm.update_endpoint_weights_and_capacities(EndpointName="ep-split", DesiredWeightsAndCapacities=[
            {"VariantName": "C", "DesiredWeight": 1.0}])
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_a_container_that_never_turns_healthy_fails_the_endpoint(node: NodeThread) -> None:
    put_model(node, "m-broken", model_archive(None, {"not-a-model.txt": b"hello"}))
    desc = deploy(node, "ep-broken", [variant("AllTraffic", "m-broken")])
    assert desc["EndpointStatus"] == "Failed"
    assert "health check" in desc["FailureReason"] and "No xgboost-model" in desc["FailureReason"]


def test_a_failed_update_keeps_the_old_fleet_serving(node: NodeThread, served: str,
                                                     boosters: dict[str, Any]) -> None:
    sm, rt = node.client("sagemaker"), node.client("sagemaker-runtime")
    put_model(node, "m-broken2", model_archive(None, {"junk": b"x"}))
    sm.create_endpoint_config(EndpointConfigName="ep-main-broken", ProductionVariants=[
        variant("AllTraffic", "m-broken2")])
    sm.update_endpoint(EndpointName=served, EndpointConfigName="ep-main-broken")
    assert sm.describe_endpoint(EndpointName=served)["EndpointStatus"] == "Updating"
    body = csv_row(ROWS[2])
    while sm.describe_endpoint(EndpointName=served)["EndpointStatus"] == "Updating":
        got = float(rt.invoke_endpoint(EndpointName=served, Body=body, ContentType="text/csv")["Body"].read())
        assert got == pytest.approx(expected(boosters["a"], body), rel=1e-5)
        time.sleep(0.1)
    desc = sm.describe_endpoint(EndpointName=served)
    assert desc["EndpointStatus"] == "InService" and desc["EndpointConfigName"] == "ep-main-cfg"
    assert desc["FailureReason"].startswith("Update failed")
    got = float(rt.invoke_endpoint(EndpointName=served, Body=body, ContentType="text/csv")["Body"].read())
    assert got == pytest.approx(expected(boosters["a"], body), rel=1e-5)


def test_data_capture_writes_sagemakers_format(node: NodeThread) -> None:
    s3, rt = node.client("s3"), node.client("sagemaker-runtime")
    dest = f"s3://{node.settings.artifacts_bucket}/capture"
    desc = deploy(node, "ep-capture", [variant("AllTraffic", "m-a")], DataCaptureConfig={
        "EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": dest,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    assert desc["DataCaptureConfig"]["CaptureStatus"] == "Started"
    bodies = [csv_row(r) for r in ROWS[:5]]
    answers = [rt.invoke_endpoint(EndpointName="ep-capture", Body=b, ContentType="text/csv")["Body"].read()
               for b in bodies]

    def captured() -> list[dict[str, Any]]:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=node.settings.artifacts_bucket,
                                                     Prefix="capture/ep-capture/AllTraffic/").get("Contents", [])]
        lines = [json.loads(line) for k in keys for line in
                 s3.get_object(Bucket=node.settings.artifacts_bucket, Key=k)["Body"].read().splitlines()]
        return lines if len(lines) >= 5 else []

    lines = wait_for(captured, timeout=30, what="five capture lines")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=node.settings.artifacts_bucket,
                                                 Prefix="capture/ep-capture/")["Contents"]]
    assert all(len(k.split("/")) == 8 and k.endswith(".jsonl") for k in keys)  # .../yyyy/mm/dd/hh/file
    inputs = {line["captureData"]["endpointInput"]["data"].encode() for line in lines}
    assert inputs == set(bodies)
    first = lines[0]
    assert first["captureData"]["endpointInput"]["encoding"] == "CSV"
    assert first["captureData"]["endpointInput"]["mode"] == "INPUT"
    assert first["captureData"]["endpointOutput"]["mode"] == "OUTPUT"
    assert first["captureData"]["endpointOutput"]["data"].encode() in answers
    assert first["eventMetadata"]["eventId"] and first["eventMetadata"]["inferenceTime"].endswith("Z")


def test_shadow_variant_gets_a_copy_and_never_answers(node: NodeThread, served: str) -> None:
    rt = node.client("sagemaker-runtime")
    desc = deploy(node, "ep-shadow", [variant("Prod", "m-a")], ShadowProductionVariants=[variant("Shadow", "m-a")])
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    assert desc["ShadowProductionVariants"][0]["VariantName"] == "Shadow"
    for r in ROWS[:6]:
        resp = rt.invoke_endpoint(EndpointName="ep-shadow", Body=csv_row(r), ContentType="text/csv")
        assert resp["InvokedProductionVariant"] == "Prod"
    assert node.node is not None and node.node.hosting is not None
    stats = node.node.hosting.shadows

    def counted() -> dict[str, Any] | None:
        report = stats.report("ep-shadow").get("Shadow")
        return report if report and report["requests"] >= 6 else None

    report = wait_for(counted, timeout=20, what="six shadowed requests")
    assert report["errors"] == 0 and report["agreement"] == 1.0


def test_shadow_agreement_is_shown_to_users(node: NodeThread, served: str, boosters: dict[str, Any],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from infra.cli.shadows import print_shadow_agreement

    desc = deploy(node, "ep-shadow-b", [variant("Prod", "m-a")], ShadowProductionVariants=[variant("Cand", "m-b")])
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    rt = node.client("sagemaker-runtime")
    a, b = boosters["a"], boosters["b"]
    same = sum(bool(np.isclose(a.inplace_predict(r[None])[0], b.inplace_predict(r[None])[0], rtol=1e-4))
               for r in ROWS[:20])
    for r in ROWS[:20]:
        rt.invoke_endpoint(EndpointName="ep-shadow-b", Body=csv_row(r), ContentType="text/csv")
    url = f"{node.endpoints['runtime']}/headwater/endpoints/ep-shadow-b/shadow-agreement"

    def counted() -> dict[str, Any] | None:
        with urllib.request.urlopen(url, timeout=10) as resp:
            cand = json.loads(resp.read())["ShadowVariants"].get("Cand")
        return cand if cand and cand["requests"] >= 20 else None

    cand = wait_for(counted, timeout=20, what="twenty shadowed requests")
    assert cand["errors"] == 0 and cand["agreed"] == same < 20
    assert print_shadow_agreement(node.settings, "ep-shadow-b") == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("Cand"))
    assert line.split()[1:4] == ["20", "0", str(same)] and line.endswith(f"{100 * same / 20:.1f}%")


def test_delete_endpoint_stops_its_instances(node: NodeThread) -> None:
    sm, rt = node.client("sagemaker"), node.client("sagemaker-runtime")
    deploy(node, "ep-gone", [variant("AllTraffic", "m-a")])
    assert node.node is not None and node.node.hosting is not None
    instances = node.node.hosting.manager.live["ep-gone"].instances()
    sm.delete_endpoint(EndpointName="ep-gone")

    def gone() -> bool:
        try:
            sm.describe_endpoint(EndpointName="ep-gone")
        except ClientError as err:
            return err.response["Error"]["Code"] == "ValidationException"
        return False

    wait_for(gone, timeout=30, what="the endpoint to be deleted")
    assert all(i.stopping and not i.healthy for i in instances)
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="ep-gone", Body=b"1,2,3,4", ContentType="text/csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"
