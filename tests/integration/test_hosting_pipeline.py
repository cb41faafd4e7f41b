"""Serial inference pipelines and instance replacement, on a real node.

A pipeline model is a scikit-learn script-mode preprocessor (a fitted
``StandardScaler`` whose ``predict_fn`` is ``model.transform``, its code a
``sourcedir.tar.gz`` in S3 as the SageMaker Python SDK uploads it) in front
of built-in XGBoost trained on the scaled features; its answers are
compared with the same two models evaluated in this process.

How SageMaker passes content types along a pipeline: each container's
response ``Content-Type`` becomes the next container's request
``Content-Type``, and the caller's ``Accept`` goes to the last container
only; the others get none and answer in their own default type, which is
why SageMaker's own pipelines (Autopilot's, for one) set
``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` on every container but the last.

Instance replacement: one instance of a two-instance endpoint is killed
(SIGKILL, by pid) under a bounded loopback load; the manager replaces it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from sklearn.preprocessing import StandardScaler

from tests.integration.hosting_support import (
    IMAGE, ROLE, csv_row, deploy, expected, model_archive, put_model, train_booster, variant,
)
from tests.support import NodeThread, wait_for

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SCRIPT = Path(__file__).resolve().parents[1] / "e2e" / "scripts" / "scaler_preprocess.py"
# Raw features far from zero mean and unit scale, so a pipeline that skipped the scaler would answer differently.
MEANS = np.array([10.0, -5.0, 100.0, 0.5])
SCALES = np.array([2.0, 0.1, 30.0, 1.0])
ENDPOINT = "ep-pipeline"
LOG_GROUP = "/aws/sagemaker/Endpoints"


@dataclass
class Pipeline:
    """The two models as this process evaluates them, and the containers the model was created with."""

    scaler: StandardScaler
    booster: xgb.Booster
    containers: list[dict[str, Any]]
    rows: np.ndarray = field(default_factory=lambda: MEANS + SCALES * np.random.default_rng(11).normal(size=(8, 4)))

    def predict(self, features: np.ndarray) -> list[float]:
        """``booster.predict(scaler.transform(features))``, on float32 features as the containers read them."""
        scaled = self.scaler.transform(features.astype(np.float32))
        return [float(v) for v in self.booster.inplace_predict(scaled)]


def _csv_predictions(answer: bytes) -> list[float]:
    """A ``text/csv`` answer read as XGBoost's float32 predictions (9 significant digits name each exactly)."""
    return [float(np.float32(v)) for v in answer.split()]


def _csv_features(body: bytes) -> np.ndarray:
    """A CSV body parsed as the scikit-learn container parses it (text cells, then float32)."""
    return np.array([line.split(",") for line in body.decode().splitlines() if line]).astype(np.float32)


def _archive(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def pipeline(node: NodeThread) -> Pipeline:
    """Model ``pipe`` (preprocessor -> XGBoost, ``Serial``) deployed as :data:`ENDPOINT`, one instance."""
    rng = np.random.default_rng(3)
    raw = (MEANS + SCALES * rng.normal(size=(400, 4))).astype(np.float32)
    scaler = StandardScaler().fit(raw)
    scaled = scaler.transform(raw)
    labels = (scaled[:, 0] - scaled[:, 1] + 0.5 * scaled[:, 2] > 0).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(scaled, label=labels), 8)

    s3, bucket = node.client("s3"), node.settings.artifacts_bucket
    scaler_bytes = io.BytesIO()
    joblib.dump(scaler, scaler_bytes)
    uploads = {
        "pipeline/preprocessor/model.tar.gz": model_archive(None, {"model.joblib": scaler_bytes.getvalue()}),
        # Where and how the SDK uploads a script-mode model's code: the entry point at the archive's root.
        "pipeline/preprocessor/source/sourcedir.tar.gz": _archive({SCRIPT.name: SCRIPT.read_bytes()}),
        "pipeline/xgboost/model.tar.gz": model_archive(booster),
    }
    for key, body in uploads.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    containers = [
        {"Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{bucket}/pipeline/preprocessor/model.tar.gz",
         "Environment": {"SAGEMAKER_PROGRAM": SCRIPT.name,
                         "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/pipeline/preprocessor/source/sourcedir.tar.gz",
                         "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": node.settings.region,
                         "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}},
        {"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/pipeline/xgboost/model.tar.gz"},
    ]
    node.client("sagemaker").create_model(ModelName="pipe", ExecutionRoleArn=ROLE, Containers=containers,
                                          InferenceExecutionConfig={"Mode": "Serial"})
    desc = deploy(node, ENDPOINT, [variant("AllTraffic", "pipe")])
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    return Pipeline(scaler, booster, containers)


def _invoke(node: NodeThread, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
    resp = node.client("sagemaker-runtime").invoke_endpoint(EndpointName=ENDPOINT, Body=body,
                                                            ContentType=content_type, Accept=accept)
    return resp["Body"].read(), resp["ContentType"]


def _post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """``POST /invocations`` straight to one container of the running instance."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_describe_model_and_endpoint_echo_the_pipeline(node: NodeThread, pipeline: Pipeline) -> None:
    sm = node.client("sagemaker")
    m = sm.describe_model(ModelName="pipe")
    assert m["Containers"] == pipeline.containers
    assert m["InferenceExecutionConfig"] == {"Mode": "Serial"}
    assert "PrimaryContainer" not in m
    [pv] = sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]
    assert [i["SpecifiedImage"] for i in pv["DeployedImages"]] == [SKLEARN_IMAGE, IMAGE]


def test_pipeline_answers_xgboost_on_the_scaled_features(node: NodeThread, pipeline: Pipeline) -> None:
    for rows in (pipeline.rows[:1], pipeline.rows):
        body = "\n".join(",".join(f"{v:.6f}" for v in row) for row in rows).encode()
        answer, ctype = _invoke(node, body, "text/csv", "text/csv")
        assert ctype == "text/csv"
        assert _csv_predictions(answer) == pipeline.predict(_csv_features(body))
    # The scaler matters here: XGBoost on the raw rows answers something else.
    raw = [float(v) for v in pipeline.booster.inplace_predict(pipeline.rows.astype(np.float32))]
    assert raw != pipeline.predict(pipeline.rows)


def test_response_type_feeds_the_next_container_and_accept_only_the_last(node: NodeThread,
                                                                          pipeline: Pipeline) -> None:
    rows = pipeline.rows[:3].round(4).tolist()
    body = json.dumps(rows).encode()
    answer, ctype = _invoke(node, body, "application/json", "application/jsonlines")
    assert ctype == "application/jsonlines"
    got = [json.loads(line)["score"] for line in answer.decode().splitlines()]
    assert got == pipeline.predict(np.array(rows))

    # Why that answer proves the passing rules: each alternative fails on the containers themselves.
    [instance] = node.node.hosting.manager.live[ENDPOINT].variants["AllTraffic"].instances
    pre_port, xgb_port = instance.ports
    status, message = _post(pre_port, body, {"Content-Type": "application/json", "Accept": "application/jsonlines"})
    assert status == 406, message  # the preprocessor cannot write the caller's Accept...
    status, scaled = _post(pre_port, body, {"Content-Type": "application/json"})
    assert status == 200 and b"," in scaled  # ...and without one it answers CSV (its default)...
    status, message = _post(xgb_port, scaled, {"Content-Type": "application/json", "Accept": "application/jsonlines"})
    assert status == 400, message  # ...which XGBoost reads only under the preprocessor's response type.


def test_a_container_error_mid_pipeline_is_a_model_error_and_the_endpoint_keeps_serving(
        node: NodeThread, pipeline: Pipeline) -> None:
    runtime = node.client("sagemaker-runtime")
    cases = [(b"1.0,2.0,3.0", 500, "StandardScaler is expecting 4 features", "server"),  # predict_fn raises
             (b"1.0,2.0,oops,4.0", 400, "not a number", "client")]  # the default input_fn refuses it
    for body, status, message, kind in cases:
        with pytest.raises(ClientError) as err:
            runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=body, ContentType="text/csv")
        r = err.value.response
        assert r["Error"]["Code"] == "ModelError"
        assert r["OriginalStatusCode"] == status and message in r["OriginalMessage"]
        assert f"Received {kind} error ({status})" in r["Error"]["Message"]
    body = ",".join(f"{v:.6f}" for v in pipeline.rows[0]).encode()
    answer, _ = _invoke(node, body, "text/csv", "text/csv")
    assert _csv_predictions(answer) == pipeline.predict(_csv_features(body))


# ------------------------------------------------------------------------------------------ instance replacement

@dataclass
class Load:
    """A bounded loopback load on one endpoint: ``threads`` callers until stopped, a deadline, or ``cap`` each."""

    node: NodeThread
    endpoint: str
    booster: xgb.Booster
    threads: int = 4
    cap: int = 4000
    deadline_s: float = 120.0
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for n in range(self.threads):
            t = threading.Thread(target=self._run, args=(n,), name=f"load-{n}", daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def _run(self, seed: int) -> None:
        runtime = self.node.client("sagemaker-runtime")
        rows = np.random.default_rng(seed).normal(size=(self.cap, 4)).astype(np.float32)
        end = time.monotonic() + self.deadline_s
        for row in rows:
            if self.stop.is_set() or time.monotonic() > end:
                return
            body = csv_row(row)
            try:
                got = float(runtime.invoke_endpoint(EndpointName=self.endpoint, Body=body,
                                                    ContentType="text/csv")["Body"].read())
                if got != pytest.approx(expected(self.booster, body), rel=1e-5):
                    raise AssertionError(f"wrong answer {got} for {body!r}")
            except Exception as err:  # noqa: BLE001 - every failure is collected and reported
                with self._lock:
                    self.failures.append(f"{type(err).__name__}: {err}")
                continue
            with self._lock:
                self.ok += 1

    def finish(self) -> None:
        self.stop.set()
        for t in self._workers:
            t.join(timeout=60)


def _log_messages(node: NodeThread, endpoint: str, stream: str) -> list[str]:
    try:
        events = node.client("logs").get_log_events(logGroupName=f"{LOG_GROUP}/{endpoint}", logStreamName=stream,
                                                     startFromHead=True)["events"]
    except ClientError:
        return []
    return [e["message"] for e in events]


def _replaced(idents: set[str], victim: str) -> set[str] | None:
    """``idents`` once two instances serve and the victim is not one of them."""
    return idents if len(idents) == 2 and victim not in idents else None


def _reported(desc: dict[str, Any], since: Any) -> dict[str, Any] | None:
    """``desc`` once it was rewritten after ``since`` with two instances again."""
    return desc if desc["LastModifiedTime"] > since and desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2 \
        else None


def test_a_killed_instance_is_replaced_under_load_without_failed_requests(node: NodeThread) -> None:
    booster = train_booster(4)
    put_model(node, "m-heal", model_archive(booster))
    desc = deploy(node, "ep-heal", [variant("AllTraffic", "m-heal", count=2)])
    assert desc["EndpointStatus"] == "InService", desc.get("FailureReason")
    assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    manager = node.node.hosting.manager

    def serving() -> list[Any]:
        return [i for i in manager.live["ep-heal"].variants["AllTraffic"].instances if i.healthy]

    before = {i.ident for i in serving()}
    assert len(before) == 2
    victim = serving()[0]
    process = victim.running[0].proc  # the process runner's child: the instance's serve process
    sm = node.client("sagemaker")
    modified = sm.describe_endpoint(EndpointName="ep-heal")["LastModifiedTime"]

    load = Load(node, "ep-heal", booster).start()
    try:
        wait_for(lambda: load.ok >= 50, 60, what="the load to get going")
        os.kill(process.pid, signal.SIGKILL)
        killed_at, ok_at_kill = time.monotonic(), load.ok
        after = wait_for(lambda: _replaced({i.ident for i in serving()}, victim.ident), 60,
                         what="a replacement instance to serve")
        replaced_s = time.monotonic() - killed_at
        ok_at_replacement = load.ok
        wait_for(lambda: load.ok >= ok_at_replacement + 50, 60, what="requests after the replacement")
    finally:
        load.finish()

    assert load.failures == [], f"{len(load.failures)} of {load.ok + len(load.failures)} requests failed: " \
                                f"{load.failures[:5]}"
    assert process.returncode == -signal.SIGKILL
    assert load.ok > ok_at_kill
    [new] = after - before
    assert after - {new} == before - {victim.ident}
    print(f"\nreplacement serving {replaced_s:.2f} s after the kill; {load.ok} requests, "
          f"{ok_at_replacement - ok_at_kill} of them between the kill and the replacement, none failed")

    d = wait_for(lambda: _reported(sm.describe_endpoint(EndpointName="ep-heal"), modified), 30,
                 what="DescribeEndpoint to report the replacement")
    assert d["EndpointStatus"] == "InService" and d["ProductionVariants"][0]["DesiredInstanceCount"] == 2
    wait_for(lambda: any(f"replaces instance {victim.ident}" in m
                         for m in _log_messages(node, "ep-heal", f"AllTraffic/{new}")),
             30, what="the replacement in the new instance's log stream")
    # The lost instance's own stream gets a line too, but not asserted: LogShipper's exit cancels a flush
    # in flight, and the lines of that batch can be lost (a gap of services.execution.log_shipper).
