"""SageMaker Pipelines: what the orchestration costs per step, and a fully cached re-run.

One node, 200 rows of ``y = x @ w + noise``. A 6-step pipeline, written as the definition JSON the SDK
emits: Prepare (processing: an 80/20 split) -> Train (built-in XGBoost, 20 rounds) -> Evaluate
(processing on the XGBoost image: the test rows' MSE in a property file) -> Check (condition on
``Std:JsonGet`` of that MSE) -> Register (RegisterModel) -> MakeModel (Model), the job steps with
``CacheConfig``. Measured, wall time from the request to the status seen by a client polling every 50 ms:

1. the pipeline's first execution (nothing cached);
2. the same jobs, model package and model created back to back as plain requests, each job waited for
   the same way (the platform's work without the orchestration): (1 - 2) / 6 is the overhead per step;
3. a second execution with the same parameters: every job step a cache hit.

Nothing is asserted. About a minute on two cores.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tests.support import NodeThread, free_port_settings  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/bench"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
PREPARE = """
import glob, os
import pandas as pd
frame = pd.concat([pd.read_csv(f, header=None) for f in sorted(glob.glob('/opt/ml/processing/input/*.csv'))])
cut = int(len(frame) * 0.8)
for name, part in (('train', frame[:cut]), ('test', frame[cut:])):
    os.makedirs(f'/opt/ml/processing/{name}', exist_ok=True)
    part.to_csv(f'/opt/ml/processing/{name}/{name}.csv', header=False, index=False)
"""
EVALUATE = """
import glob, json, os, tarfile
import numpy as np, pandas as pd, xgboost as xgb
with tarfile.open(glob.glob('/opt/ml/processing/model/*.tar.gz')[0]) as tar:
    tar.extractall('/tmp/model')
booster = xgb.Booster(model_file='/tmp/model/xgboost-model')
test = pd.concat([pd.read_csv(f, header=None) for f in glob.glob('/opt/ml/processing/test/*.csv')]).to_numpy()
mse = float(np.mean((booster.predict(xgb.DMatrix(test[:, 1:])) - test[:, 0]) ** 2))
os.makedirs('/opt/ml/processing/evaluation', exist_ok=True)
json.dump({'regression_metrics': {'mse': {'value': mse}}}, open('/opt/ml/processing/evaluation/evaluation.json', 'w'))
"""
CODE_URI = [""]  # where main() uploaded the scripts
CACHE = {"Enabled": True, "ExpireAfter": "PT1H"}


def _s3_input(name: str, uri: Any) -> dict[str, Any]:
    return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/{name}",
                                           "S3DataType": "S3Prefix", "S3InputMode": "File"}}


def _s3_output(name: str, uri: str) -> dict[str, Any]:
    return {"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/{name}",
                                             "S3UploadMode": "EndOfJob"}}


def _processing(image: str, script: str, inputs: list[Any], outputs: list[Any]) -> dict[str, Any]:
    """A processing job running ``script`` (uploaded under ``<code>/`` by :func:`main`)."""
    return {"ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                      "VolumeSizeInGB": 1}},
            "AppSpecification": {"ImageUri": image, "ContainerEntrypoint": [
                "python3", f"/opt/ml/processing/code/{script}"]},
            "ProcessingInputs": [_s3_input("code", f"{CODE_URI[0]}/{script}"), *inputs], "ProcessingOutputConfig": {"Outputs": outputs},
            "RoleArn": ROLE, "StoppingCondition": {"MaxRuntimeInSeconds": 600}}


def _output(step: str, name: str) -> dict[str, Any]:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"}


def requests(data: str, out: str, prep_out: Any = None, model: Any = None, evaluation: Any = None
             ) -> dict[str, dict[str, Any]]:
    """Each step's request; ``prep_out`` / ``model`` / ``evaluation`` are what the earlier steps made
    (``Get`` expressions in the pipeline, values for the plain jobs)."""
    prep_out = prep_out or {"train": _output("Prepare", "train"), "test": _output("Prepare", "test")}
    model = model or {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    return {
        "Prepare": _processing(SKLEARN, "prepare.py", [_s3_input("input", data)],
                               [_s3_output("train", f"{out}/train"), _s3_output("test", f"{out}/test")]),
        "Train": {"AlgorithmSpecification": {"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
                  "RoleArn": ROLE, "HyperParameters": {"num_round": "20", "objective": "reg:squarederror"},
                  "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {
                      "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": prep_out["train"]}}}],
                  "OutputDataConfig": {"S3OutputPath": f"{out}/model"},
                  "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1},
                  "StoppingCondition": {"MaxRuntimeInSeconds": 600}},
        "Evaluate": _processing(XGBOOST, "evaluate.py", [_s3_input("model", model), _s3_input("test", prep_out["test"])],
                                [_s3_output("evaluation", f"{out}/evaluation")]),
        "Register": {"ModelPackageGroupName": "bench-models", "ModelApprovalStatus": "PendingManualApproval",
                     "InferenceSpecification": {"Containers": [{"Image": XGBOOST, "ModelDataUrl": model}],
                                                "SupportedContentTypes": ["text/csv"],
                                                "SupportedResponseMIMETypes": ["text/csv"]}},
        "MakeModel": {"ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": XGBOOST, "ModelDataUrl": model}},
        "_evaluation": evaluation or {},
    }


def definition(data: str, out: str) -> str:
    """The 6-step pipeline."""
    r = requests(data, out)
    mse = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Evaluation"},
                           "Path": "regression_metrics.mse.value"}}
    steps = [
        {"Name": "Prepare", "Type": "Processing", "Arguments": r["Prepare"], "CacheConfig": CACHE},
        {"Name": "Train", "Type": "Training", "Arguments": r["Train"], "CacheConfig": CACHE},
        {"Name": "Evaluate", "Type": "Processing", "Arguments": r["Evaluate"], "CacheConfig": CACHE,
         "PropertyFiles": [{"PropertyFileName": "Evaluation", "OutputName": "evaluation",
                            "FilePath": "evaluation.json"}]},
        {"Name": "Check", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "LessThanOrEqualTo", "LeftValue": mse, "RightValue": 100.0}],
            "IfSteps": [{"Name": "Register", "Type": "RegisterModel", "Arguments": r["Register"]},
                        {"Name": "MakeModel", "Type": "Model", "Arguments": r["MakeModel"],
                         "DependsOn": ["Register"]}],
            "ElseSteps": []}}]
    return json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": steps})


def _until(check: Callable[[], str | None]) -> str:
    while (status := check()) is None:
        time.sleep(0.05)
    return status


def plain_jobs(sm: Any, data: str, out: str) -> float:
    """The same work as plain requests back to back; seconds."""
    started = time.perf_counter()
    r = requests(data, out)
    sm.create_processing_job(ProcessingJobName="bench-prepare", **r["Prepare"])
    _until(lambda: _done(sm.describe_processing_job(ProcessingJobName="bench-prepare")["ProcessingJobStatus"]))
    r = requests(data, out, prep_out={"train": f"{out}/train", "test": f"{out}/test"})
    sm.create_training_job(TrainingJobName="bench-train", **r["Train"])
    _until(lambda: _done(sm.describe_training_job(TrainingJobName="bench-train")["TrainingJobStatus"]))
    artifact = sm.describe_training_job(TrainingJobName="bench-train")["ModelArtifacts"]["S3ModelArtifacts"]
    r = requests(data, out, prep_out={"train": f"{out}/train", "test": f"{out}/test"}, model=artifact)
    sm.create_processing_job(ProcessingJobName="bench-evaluate", **r["Evaluate"])
    _until(lambda: _done(sm.describe_processing_job(ProcessingJobName="bench-evaluate")["ProcessingJobStatus"]))
    sm.create_model_package_group(ModelPackageGroupName="bench-plain")
    sm.create_model_package(**{**r["Register"], "ModelPackageGroupName": "bench-plain"})
    sm.create_model(ModelName="bench-model", **r["MakeModel"])
    return time.perf_counter() - started


def _done(status: str) -> str | None:
    return status if status in ("Completed", "Failed", "Stopped") else None


def run_execution(sm: Any) -> tuple[float, dict[str, dict[str, Any]]]:
    """Start an execution and wait for its end; seconds and its steps by name."""
    started = time.perf_counter()
    arn = sm.start_pipeline_execution(PipelineName="bench")["PipelineExecutionArn"]

    def status() -> str | None:
        s = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        return None if s == "Executing" else s

    final = _until(status)
    elapsed = time.perf_counter() - started
    steps = {s["StepName"]: s for s in sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)[
        "PipelineExecutionSteps"]}
    if final != "Succeeded":
        reason = sm.describe_pipeline_execution(PipelineExecutionArn=arn).get("FailureReason")
        raise SystemExit(f"the execution ended {final}: {reason}")
    return elapsed, steps


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        node = NodeThread(free_port_settings(Path(tmp))).start()
        try:
            sm, s3 = node.client("sagemaker"), node.client("s3")
            rng = np.random.default_rng(3)
            x = rng.normal(size=(200, 3))
            y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=200)
            buf = io.StringIO()
            np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.5f")
            s3.put_object(Bucket=node.settings.data_bucket, Key="bench/raw/rows.csv", Body=buf.getvalue().encode())
            data = f"s3://{node.settings.data_bucket}/bench/raw/"
            for script, code in (("prepare.py", PREPARE), ("evaluate.py", EVALUATE)):
                s3.put_object(Bucket=node.settings.artifacts_bucket, Key=f"bench/code/{script}", Body=code.encode())
            CODE_URI[0] = f"s3://{node.settings.artifacts_bucket}/bench/code"
            artifacts = f"s3://{node.settings.artifacts_bucket}"
            plain = plain_jobs(sm, data, f"{artifacts}/bench-plain")
            sm.create_pipeline(PipelineName="bench", RoleArn=ROLE,
                               PipelineDefinition=definition(data, f"{artifacts}/bench-pipeline"))
            first, steps = run_execution(sm)
            cached, again = run_execution(sm)
        finally:
            node.stop()
    hits = sum(1 for s in again.values() if s.get("CacheHitResult"))
    print("| run | wall (s) | per step (s) |")
    print("|---|---|---|")
    print(f"| 6 steps as plain requests, back to back | {plain:.2f} | {plain / 6:.2f} |")
    print(f"| pipeline, first execution | {first:.2f} | {first / 6:.2f} |")
    print(f"| pipeline, re-run ({hits} of 3 job steps cache hits) | {cached:.2f} | {cached / 6:.2f} |")
    print(f"orchestration overhead per step: {(first - plain) / 6:.2f} s; steps run: {sorted(steps)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
