"""Batch transform throughput beside in-process vectorized predict.

Trains the built-in XGBoost model in-process on generated churn data,
registers it (model.tar.gz in S3, CreateModel), writes an N-row CSV
(default 1,000,000 rows) to S3, and runs transform jobs with MultiRecord
and the default payload (6 MB), one instance, fastest of 3 (``--runs``).
Baseline, in the same run: the same model's in-process vectorized predict
over the same file (read with pandas' C parser, then ``inplace_predict``),
fastest of 3 too, so a noisy machine slows both sides alike.

    .venv/bin/python bench/transform.py [--rows 1000000] [--concurrency N] [--runs 3]

Prints rows/s for both and their ratio (target: at least 0.7x). Bounded:
one job, a global timeout, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import xgboost as xgb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.demo.datasets import make_churn, to_csv  # noqa: E402
from infra.node import HeadwaterNode  # noqa: E402
from services.core.settings import Settings  # noqa: E402

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TIMEOUT = 900


def _model_tar(booster: xgb.Booster) -> bytes:
    raw = bytes(booster.save_raw("json"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def _in_process(path: Path, booster: xgb.Booster) -> tuple[float, np.ndarray]:
    import pandas as pd

    best, preds = float("inf"), np.empty(0)
    for _ in range(3):
        t0 = time.perf_counter()
        frame = pd.read_csv(path, header=None, dtype=np.float32, engine="c")
        preds = booster.inplace_predict(frame.to_numpy())
        best = min(best, time.perf_counter() - t0)
    return best, preds


class _Phases(logging.Handler):
    """Captures the executor's "instances ready in X s; transformed in Y s" line of each job."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.by_job: dict[str, tuple[float, float]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if "instance(s) ready in" in record.getMessage():
            args = record.args
            self.by_job[str(args[0])] = (float(args[2]), float(args[4]))  # type: ignore[index]


async def _transform(sm, args: argparse.Namespace, name: str) -> tuple[dict, float]:  # type: ignore[no-untyped-def]
    """One transform job over the input; its final description and the wall time to see it end."""
    t0 = time.perf_counter()
    await sm.create_transform_job(
        TransformJobName=name, ModelName="bench-model", BatchStrategy="MultiRecord",
        **({"MaxConcurrentTransforms": args.concurrency} if args.concurrency else {}),
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": "s3://headwater-data/bench/in/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://headwater-artifacts/bench/{name}", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    while True:
        d = await sm.describe_transform_job(TransformJobName=name)
        if d["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d, time.perf_counter() - t0
        await asyncio.sleep(0.2)


async def _run(args: argparse.Namespace) -> int:
    phases = _Phases()
    executor_log = logging.getLogger("services.transform.executor")
    executor_log.addHandler(phases)
    executor_log.setLevel(logging.INFO)
    state = Path(tempfile.mkdtemp(prefix="headwater-bench-transform-"))
    X, y = make_churn(20_000, seed=1)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.2, "nthread": 1},
                        xgb.DMatrix(X, label=y), 100)
    Xb, _ = make_churn(args.rows, seed=2)
    csv_path = state / "input.csv"
    np.savetxt(csv_path, Xb, delimiter=",", fmt="%.6g")
    size_mb = csv_path.stat().st_size / 1e6
    settings = Settings(state_dir=state, emulator_port=0, sagemaker_port=0, runtime_port=0, lambda_port=0)
    async with HeadwaterNode(settings) as node:
        stop = asyncio.Event()
        serving = asyncio.create_task(node.serve(stop))
        s3 = node.services.s3.client
        await s3.put_object(Bucket="headwater-artifacts", Key="bench/model.tar.gz", Body=_model_tar(booster))
        await s3.put_object(Bucket="headwater-data", Key="bench/in/input.csv", Body=csv_path.read_bytes())
        from aiobotocore.session import get_session

        from services.aws.session import client_kwargs

        kwargs = client_kwargs(node.settings, "sagemaker") | {"endpoint_url": node.endpoints["sagemaker"]}
        async with get_session().create_client("sagemaker", **kwargs) as sm:
            await sm.create_model(ModelName="bench-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                                  PrimaryContainer={"Image": IMAGE,
                                                    "ModelDataUrl": "s3://headwater-artifacts/bench/model.tar.gz"})
            runs = [await _transform(sm, args, f"bench-transform-{n + 1}") for n in range(args.runs)]
        stop.set()
        await serving
        for d, _ in runs:
            if d["TransformJobStatus"] != "Completed":
                print(f"transform job {d['TransformJobStatus']}: {d.get('FailureReason')}")
                return 1
        seconds = [(d["TransformEndTime"] - d["TransformStartTime"]).total_seconds() for d, _ in runs]
        best = min(range(len(runs)), key=lambda n: seconds[n])
        d, wall = runs[best]
        job_seconds = seconds[best]
        name = d["TransformJobName"]
        out = await (await s3.get_object(Bucket="headwater-artifacts",
                                         Key=f"bench/{name}/input.csv.out"))["Body"].read()
    ready, run = phases.by_job.get(name, (float("nan"), float("nan")))
    base_seconds, expected = _in_process(csv_path, booster)
    got = np.array(out.split(), dtype=np.float64)
    assert len(got) == args.rows and np.allclose(got, expected, rtol=1e-4), "transform output differs from in-process"
    rows = args.rows
    print(f"Batch transform, {rows:,} rows x {Xb.shape[1]} features ({size_mb:.0f} MB CSV), XGBoost 100 trees depth 6")
    print(f"machine: {os.cpu_count()} cores; MultiRecord, MaxPayloadInMB 6 (default), "
          f"MaxConcurrentTransforms {args.concurrency or 'unset (the container says: one per CPU)'}, "
          f"1 instance, process runner; fastest of {args.runs} jobs "
          f"({', '.join(f'{x:.2f}' for x in seconds)} s)")
    print(f"{'':44}{'seconds':>10}{'rows/s':>14}")
    print(f"{'transform job (TransformStart -> End)':44}{job_seconds:>10.2f}{rows / job_seconds:>14,.0f}")
    print(f"{'transform job (Create -> Completed seen)':44}{wall:>10.2f}{rows / wall:>14,.0f}")
    print(f"{'  of which instance start (python, model)':44}{ready:>10.2f}")
    print(f"{'  data plane (first request -> last output)':44}{run:>10.2f}{rows / run:>14,.0f}")
    print(f"{'in-process (pandas read_csv + predict)':44}{base_seconds:>10.2f}{rows / base_seconds:>14,.0f}")
    ratio = base_seconds / job_seconds
    print(f"ratio transform job / in-process: {ratio:.2f}x (target >= 0.7x: {'MET' if ratio >= 0.7 else 'NOT MET'})")
    print(f"ratio data plane / in-process:    {base_seconds / run:.2f}x")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--concurrency", type=int, default=0,
                   help="MaxConcurrentTransforms (default: unset, so the container's /execution-parameters decide, "
                        "as SageMaker does for built-ins)")
    p.add_argument("--runs", type=int, default=3, help="transform jobs to run; the fastest is reported")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return asyncio.run(asyncio.wait_for(_run(args), TIMEOUT))


if __name__ == "__main__":
    sys.exit(main())
