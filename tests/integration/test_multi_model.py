"""Multi-model endpoints on a real node: TargetModel loads on demand, LRU eviction, SageMaker's errors.

Three XGBoost models sit under one S3 prefix; the endpoint's one instance is
a real ``python -m containers.xgboost serve`` process in multi-model mode,
with at most 2 models loaded (the node's ``max_loaded_models``). Everything
is driven with boto3's ``sagemaker`` and ``sagemaker-runtime`` clients; the
container's own ``GET /models`` shows what is loaded.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from services.hosting.target_model import container_model_name
from services.inference.instance import Instance
from tests.integration.hosting_support import (
    IMAGE, ROLE, csv_row, deploy, expected, model_archive, put_model, train_booster, variant,
)
from tests.sdk_env import sdk_environment, sdk_session
from tests.support import NodeThread, free_port_settings, wait_for

ENDPOINT = "ep-mme"
PREFIX = "mme-tests/models/"
ROWS = np.random.default_rng(11).normal(size=(8, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A node whose multi-model instances keep at most 2 models loaded."""
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("node"), max_loaded_models=2)).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def boosters() -> dict[str, Any]:
    return {f"{name}.tar.gz": train_booster(seed) for name, seed in (("a", 1), ("b", 2), ("c", 3))}


def _unsafe_archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    return buf.getvalue()


@pytest.fixture(scope="module")
def mme(node: NodeThread, boosters: dict[str, Any]) -> str:
    """``ep-mme``: one instance of a multi-model XGBoost model over ``PREFIX``."""
    s3 = node.client("s3")
    bucket = node.settings.artifacts_bucket
    for target, booster in boosters.items():
        s3.put_object(Bucket=bucket, Key=PREFIX + target, Body=model_archive(booster))
    s3.put_object(Bucket=bucket, Key=PREFIX + "broken.tar.gz", Body=model_archive(None, {"README": b"no model"}))
    s3.put_object(Bucket=bucket, Key=PREFIX + "unsafe.tar.gz", Body=_unsafe_archive())
    sm = node.client("sagemaker")
    sm.create_model(ModelName="m-mme", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "Mode": "MultiModel", "ModelDataUrl": f"s3://{bucket}/{PREFIX}",
        "MultiModelConfig": {"ModelCacheSetting": "Enabled"}})
    desc = deploy(node, ENDPOINT, [variant("AllTraffic", "m-mme")])
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    return ENDPOINT


def _instance(node: NodeThread, endpoint: str) -> Instance:
    assert node.node is not None and node.node.hosting is not None
    [instance] = node.node.hosting.manager.live[endpoint].variants["AllTraffic"].instances
    return instance


def _container_models(instance: Instance) -> set[str]:
    """What the container itself says it holds (``GET /models`` of the Multi Model Server API)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{instance.ports[0]}/models", timeout=10) as resp:
        return {m["modelName"] for m in json.load(resp)["models"]}


def _predict(node: NodeThread, target: str) -> list[float]:
    rt = node.client("sagemaker-runtime")
    body = b"\n".join(csv_row(r) for r in ROWS)
    resp = rt.invoke_endpoint(EndpointName=ENDPOINT, TargetModel=target, Body=body, ContentType="text/csv",
                              Accept="text/csv")
    assert resp["InvokedProductionVariant"] == "AllTraffic"
    return [float(x) for x in resp["Body"].read().decode().splitlines()]


def test_the_model_is_described_as_multi_model(node: NodeThread, mme: str) -> None:
    c = node.client("sagemaker").describe_model(ModelName="m-mme")["PrimaryContainer"]
    assert c["Mode"] == "MultiModel" and c["ModelDataUrl"].endswith(PREFIX)
    assert c["MultiModelConfig"] == {"ModelCacheSetting": "Enabled"}
    assert _container_models(_instance(node, mme)) == set()  # nothing is loaded before the first request


def test_each_target_model_answers_with_its_own_predictions(node: NodeThread, mme: str,
                                                            boosters: dict[str, Any]) -> None:
    answers = {target: _predict(node, target) for target in ("a.tar.gz", "b.tar.gz")}
    for target, got in answers.items():
        want = [expected(boosters[target], csv_row(r)) for r in ROWS]
        assert np.allclose(got, want, rtol=1e-5), target
    assert not np.allclose(answers["a.tar.gz"], answers["b.tar.gz"])  # the models differ, so do the answers
    assert _container_models(_instance(node, mme)) == {container_model_name("a.tar.gz"),
                                                       container_model_name("b.tar.gz")}


def test_least_recently_used_models_are_evicted_past_the_limit(node: NodeThread, mme: str,
                                                               boosters: dict[str, Any]) -> None:
    instance = _instance(node, mme)
    assert node.node is not None and node.node.hosting is not None
    router = node.node.hosting.multi_model
    for target in ("a.tar.gz", "b.tar.gz"):  # both loaded (by the test before, or now)
        _predict(node, target)
    evictions = router.stats["evictions"]
    _predict(node, "a.tar.gz")  # a is now the most recently used: b goes first
    c = _predict(node, "c.tar.gz")
    assert np.allclose(c, [expected(boosters["c.tar.gz"], csv_row(r)) for r in ROWS], rtol=1e-5)
    assert router.loaded(instance) == ["a.tar.gz", "c.tar.gz"]
    assert _container_models(instance) == {container_model_name("a.tar.gz"), container_model_name("c.tar.gz")}
    assert router.stats["evictions"] == evictions + 1
    b = _predict(node, "b.tar.gz")  # loaded again, from the instance's disk cache; a is evicted now
    assert np.allclose(b, [expected(boosters["b.tar.gz"], csv_row(r)) for r in ROWS], rtol=1e-5)
    assert router.loaded(instance) == ["c.tar.gz", "b.tar.gz"]
    assert _container_models(instance) == {container_model_name("c.tar.gz"), container_model_name("b.tar.gz")}
    log = Path(instance.root / "serve.log")
    wait_for(lambda: "unloaded model a.tar.gz (least recently used" in log.read_text(), 30,
             what="the eviction in the instance's log")
    logs = node.client("logs")

    def shipped() -> bool:
        events = logs.filter_log_events(logGroupName=f"/aws/sagemaker/Endpoints/{mme}")["events"]
        return any("unloaded model b.tar.gz (least recently used" in e["message"] for e in events)

    wait_for(shipped, 60, interval=0.5, what="the eviction line in CloudWatch Logs")


def test_concurrent_requests_over_more_models_than_fit_all_get_their_models_answer(
        node: NodeThread, mme: str, boosters: dict[str, Any]) -> None:
    """Loads and evictions race with requests in flight; a model busy answering is never unloaded under it."""
    targets = [list(boosters)[i % 3] for i in range(36)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda t: _predict(node, t), targets))
    for target, got in zip(targets, answers):
        assert np.allclose(got, [expected(boosters[target], csv_row(r)) for r in ROWS], rtol=1e-5), target
    instance = _instance(node, mme)  # back under the limit once idle (extra unloads run off the request path)
    wait_for(lambda: len(_container_models(instance)) <= 2, 30, what="the instance to unload down to its limit")


def test_target_model_errors_are_the_ones_boto3_users_see(node: NodeThread, mme: str) -> None:
    rt = node.client("sagemaker-runtime")
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=mme, TargetModel="missing.tar.gz", Body=b"1,2,3,4", ContentType="text/csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "Failed to download model data" in err.value.response["Error"]["Message"]
    assert f"key: {PREFIX}missing.tar.gz" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=mme, Body=b"1,2,3,4", ContentType="text/csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "missing a target model header" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=mme, TargetModel="unsafe.tar.gz", Body=b"1,2,3,4", ContentType="text/csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "refusing it" in err.value.response["Error"]["Message"]
    with pytest.raises(rt.exceptions.ModelError) as err:
        rt.invoke_endpoint(EndpointName=mme, TargetModel="broken.tar.gz", Body=b"1,2,3,4", ContentType="text/csv")
    assert err.value.response["OriginalStatusCode"] == 500
    assert "No xgboost-model" in err.value.response["OriginalMessage"]
    with pytest.raises(rt.exceptions.ModelError) as err:  # a loaded model's own 4xx
        rt.invoke_endpoint(EndpointName=mme, TargetModel="a.tar.gz", Body=b"1,2,3", ContentType="text/csv")
    assert err.value.response["OriginalStatusCode"] == 400
    assert "Feature size mismatch" in err.value.response["OriginalMessage"]
    # the instance kept serving through every error
    assert len(_predict(node, "a.tar.gz")) == len(ROWS)
    assert not (_instance(node, mme).root / "escape").exists()


def test_target_model_on_a_single_model_endpoint_is_refused(node: NodeThread, mme: str,
                                                           boosters: dict[str, Any]) -> None:
    put_model(node, "m-single", model_archive(boosters["a.tar.gz"]))
    assert deploy(node, "ep-single", [variant("AllTraffic", "m-single")])["EndpointStatus"] == "InService"
    rt = node.client("sagemaker-runtime")
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="ep-single", TargetModel="a.tar.gz", Body=b"1,2,3,4", ContentType="text/csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "is not a multi-model endpoint and does not support target model header" in \
        err.value.response["Error"]["Message"]
    ok = rt.invoke_endpoint(EndpointName="ep-single", Body=b"1,2,3,4", ContentType="text/csv")
    assert ok["Body"].read()


def test_create_model_validates_the_mode(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    for container, words in [({"Mode": "Multi", "ModelDataUrl": "s3://b/p/"}, "enum value set"),
                             ({"Mode": "MultiModel"}, "needs ModelDataUrl")]:
        with pytest.raises(ClientError) as err:
            sm.create_model(ModelName="m-bad-mode", ExecutionRoleArn=ROLE,
                            PrimaryContainer={"Image": IMAGE, **container})
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert words in err.value.response["Error"]["Message"]


@pytest.mark.sdk
def test_the_sdks_multi_data_model_deploys_and_predicts_unchanged(node: NodeThread, mme: str,
                                                                  boosters: dict[str, Any],
                                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    """``MultiDataModel.deploy()``, ``add_model()``, ``list_models()``, ``predict(target_model=...)``."""
    import sagemaker.session as sm_session
    from sagemaker.multidatamodel import MultiDataModel
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    home = tmp_path_factory.mktemp("sdk-home")
    with sdk_environment(node, home) as mp:
        # The SDK sleeps 30 s between DescribeEndpoint polls; only its clock is shortened.
        fast = SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
        fast.sleep = lambda s: time.sleep(min(s, 0.5))
        mp.setattr(sm_session, "time", fast)
        session = sdk_session(node.settings.artifacts_bucket)
        prefix = f"s3://{node.settings.artifacts_bucket}/mme-sdk/"
        mdm = MultiDataModel(name="m-mme-sdk", model_data_prefix=prefix, image_uri=IMAGE, role=ROLE,
                             sagemaker_session=session, predictor_cls=Predictor)
        local = home / "c.tar.gz"
        local.write_bytes(model_archive(boosters["c.tar.gz"]))
        mdm.add_model(str(local), "c.tar.gz")
        mdm.add_model(f"s3://{node.settings.artifacts_bucket}/{PREFIX}a.tar.gz", "a.tar.gz")
        assert sorted(mdm.list_models()) == ["a.tar.gz", "c.tar.gz"]
        predictor = mdm.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="ep-mme-sdk",
                               serializer=CSVSerializer())
        try:
            row = ROWS[0].tolist()
            for target in ("a.tar.gz", "c.tar.gz"):
                got = float(predictor.predict(row, target_model=target).decode())
                assert got == pytest.approx(expected(boosters[target], csv_row(ROWS[0])), rel=1e-5)
        finally:
            predictor.delete_endpoint()
