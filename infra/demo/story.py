"""``headwater demo``: the end-to-end story, narrated, on the embedded emulator.

Starts a private node (emulator, control plane, handler runtime, worker) on
free loopback ports, drops a generated churn dataset into the data bucket,
and follows the chain as a user would see it (the job appearing by itself,
its statuses, its metric lines) until the model artifact is in S3; then
registers, approves and deploys it with data capture, and plays the second
act (:mod:`infra.demo.chain`): drift, violations, and the retraining chain
redeploying a better version by itself. Exits non-zero when any step fails.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session

from infra.demo.chain import retraining_story
from infra.demo.datasets import make_churn, split, to_csv
from infra.node import HeadwaterNode
from services.aws.s3 import parse_s3_uri
from services.aws.session import client_kwargs, node_client_kwargs
from services.core.settings import Settings

DATASET = "churn"
ROLE = "arn:aws:iam::123456789012:role/headwater-demo"
TIMEOUT_SECONDS = 900


def _say(step: str, text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {step:<9} {text}", flush=True)


async def run_demo(rows: int = 5000) -> int:
    """Run the story; 0 on success."""
    state = Path(tempfile.mkdtemp(prefix="headwater-demo-"))
    settings = Settings(state_dir=state, emulator_port=0, sagemaker_port=0, runtime_port=0, lambda_port=0,
                        autoscaling_port=0)
    metric_lines: list[str] = []

    def on_line(job: str, line: str) -> None:
        if line.startswith("[") and "validation-" in line:
            metric_lines.append(line)
            if len(metric_lines) <= 3 or len(metric_lines) % 10 == 0:
                _say("train", line.replace("\t", "  "))

    try:
        _say("start", "embedded AWS emulator, SageMaker API, handler runtime, worker")
        async with HeadwaterNode(settings, on_line=on_line) as node:
            stop = asyncio.Event()
            serving = asyncio.create_task(node.serve(stop))
            for key, url in node.endpoints.items():
                _say("start", f"{key:<11} {url}")
            try:
                code = await asyncio.wait_for(_story(node, rows, metric_lines), TIMEOUT_SECONDS)
            except asyncio.TimeoutError:
                _say("FAILED", f"the story did not finish within {TIMEOUT_SECONDS} s")
                code = 1
            stop.set()
            await serving
        return code
    finally:
        shutil.rmtree(state, ignore_errors=True)


async def _story(node: HeadwaterNode, rows: int, metric_lines: list[str]) -> int:
    s = node.settings
    X, y = make_churn(rows)
    (xt, yt), (xv, yv) = split(X, y)
    session = get_session()
    sm_kwargs = node_client_kwargs(s, "sagemaker", node.endpoints["sagemaker"])
    async with session.create_client("s3", **client_kwargs(s, "s3")) as s3, \
            session.create_client("sagemaker", **sm_kwargs) as sm:
        _say("data", f"generated {rows} customers ({y.mean():.0%} churned); 80/20 split")
        await s3.put_object(Bucket=s.data_bucket, Key=f"datasets/{DATASET}/validation/churn.csv", Body=to_csv(xv, yv))
        key = f"datasets/{DATASET}/train/churn.csv"
        t0 = time.monotonic()
        await s3.put_object(Bucket=s.data_bucket, Key=key, Body=to_csv(xt, yt))
        _say("upload", f"PutObject s3://{s.data_bucket}/{key}")
        job = await _wait_for_job(sm)
        _say("event", f"S3 -> EventBridge -> rule -> queue -> handler started training job {job} "
                      f"({time.monotonic() - t0:.2f} s after the upload)")
        final = await _follow(sm, job)
        if final["TrainingJobStatus"] != "Completed":
            _say("FAILED", f"{job}: {final['TrainingJobStatus']}: {final.get('FailureReason', '')}")
            return 1
        artifact = final["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, akey = parse_s3_uri(artifact)
        head = await s3.head_object(Bucket=bucket, Key=akey)
        _say("model", f"{artifact} ({head['ContentLength']} bytes)")
        hps = final.get("HyperParameters", {})
        _say("summary", f"objective {hps.get('objective')}, {len(metric_lines)} rounds, "
                        f"final: {metric_lines[-1].split(chr(9), 1)[-1].replace(chr(9), '  ') if metric_lines else '-'}")
        _say("trained", f"dropped a CSV, got a trained model in {time.monotonic() - t0:.1f} s")
        rt_kwargs = node_client_kwargs(s, "sagemaker-runtime", node.endpoints["runtime"])
        async with session.create_client("sagemaker-runtime", **rt_kwargs) as rt:
            return await _serve(node, sm, rt, s3, final, xt, xv, yv)


async def _serve(node: HeadwaterNode, sm: Any, rt: Any, s3: Any, trained: dict[str, Any], xt: Any, xv: Any,
                 yv: Any) -> int:
    """Register the model, approve it, deploy it with data capture, and ask it questions."""
    job = trained["TrainingJobName"]
    image = trained["AlgorithmSpecification"]["TrainingImage"]
    artifact = trained["ModelArtifacts"]["S3ModelArtifacts"]
    group = f"{DATASET}-models"
    await sm.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="churn models")
    package = (await sm.create_model_package(
        ModelPackageGroupName=group, ModelPackageDescription=f"trained by {job}",
        InferenceSpecification={"Containers": [{"Image": image, "ModelDataUrl": artifact}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    ))["ModelPackageArn"]
    _say("register", f"{package} (PendingManualApproval; lineage: {job})")
    await sm.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved",
                                  ApprovalDescription="approved by the demo")
    _say("approve", "ModelApprovalStatus Approved")
    endpoint = f"{DATASET}-endpoint"
    await sm.create_model(ModelName=f"{DATASET}-v1", ExecutionRoleArn=ROLE,
                          PrimaryContainer={"Image": image, "ModelDataUrl": artifact})
    await sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-v1",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": f"{DATASET}-v1", "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": "s3://headwater-artifacts/capture",
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    await sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-v1")
    t0 = time.monotonic()
    while (desc := await sm.describe_endpoint(EndpointName=endpoint))["EndpointStatus"] == "Creating":
        await asyncio.sleep(0.25)
    if desc["EndpointStatus"] != "InService":
        _say("FAILED", f"endpoint {endpoint}: {desc['EndpointStatus']}: {desc.get('FailureReason', '')}")
        return 1
    _say("deploy", f"endpoint {endpoint} InService in {time.monotonic() - t0:.1f} s (data capture on)")
    data = await _trained_on(sm, desc["EndpointArn"])
    _say("lineage", f"QueryLineage: {endpoint} serves a model trained on {', '.join(data) or 'nothing recorded'}")
    rows = 200
    correct = 0
    t0 = time.monotonic()
    for x, label in zip(xv[:rows], yv[:rows]):
        body = ",".join(f"{v:.10g}" for v in x).encode()
        resp = await rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
        score = float((await resp["Body"].read()).decode())
        correct += int((score > 0.5) == bool(label))
    _say("predict", f"{rows} requests in {time.monotonic() - t0:.2f} s through sagemaker-runtime; "
                    f"accuracy on held-out customers {correct / rows:.1%}")
    code = await retraining_story(node, sm, rt, s3, endpoint, f"{DATASET}-v1", group, xt, ROLE, _say)
    await sm.delete_endpoint(EndpointName=endpoint)
    if code == 0:
        _say("done", "trained, served, drifted, retrained, evaluated, approved and redeployed by the chain; "
                     "endpoint deleted")
    return code


async def _trained_on(sm: Any, endpoint_arn: str, timeout: float = 30) -> list[str]:
    """The data the endpoint's model was trained on, as the SDK's ``EndpointContext.dataset_artifacts()``
    asks: the endpoint's context, its ascendant ``DataSet`` artifacts (recorded from the state changes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        contexts = (await sm.list_contexts(SourceUri=endpoint_arn))["ContextSummaries"]
        if contexts:
            found = (await sm.query_lineage(StartArns=[contexts[0]["ContextArn"]], Direction="Ascendants",
                                            Filters={"Types": ["DataSet"], "LineageTypes": ["Artifact"]}))["Vertices"]
            if found:
                return sorted([(await sm.describe_artifact(ArtifactArn=v["Arn"]))["Source"]["SourceUri"]
                               for v in found])
        await asyncio.sleep(0.25)
    return []


async def _wait_for_job(sm: Any) -> str:
    while True:
        jobs = (await sm.list_training_jobs(NameContains=DATASET))["TrainingJobSummaries"]
        if jobs:
            return str(jobs[0]["TrainingJobName"])
        await asyncio.sleep(0.1)


async def _follow(sm: Any, job: str) -> dict[str, Any]:
    seen = 0
    while True:
        desc = await sm.describe_training_job(TrainingJobName=job)
        for t in desc.get("SecondaryStatusTransitions", [])[seen:]:
            _say("status", f"{t['Status']:<12} {t.get('StatusMessage', '')}")
        seen = len(desc.get("SecondaryStatusTransitions", []))
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return dict(desc)
        await asyncio.sleep(0.25)
