"""Multi-model endpoints: what TargetModel costs, beside a single-model endpoint in the same run.

One ``headwater up`` node (``HEADWATER_MAX_LOADED_MODELS=2``) serves the
built-in XGBoost model (100 trees, depth 6, 10 features) three ways, each
driven with 1-row CSV requests at concurrency 1 and 8 over keep-alive
HTTP/1.1 on loopback:

* ``single-model``: an ordinary endpoint on ``model.tar.gz`` (the baseline);
* ``mme warm``: a multi-model endpoint, every request ``TargetModel:
  m0.tar.gz`` (loaded once, then always a hit);
* ``mme thrash``: the same endpoint, requests rotating over three models
  with room for two loaded: every request misses, so each one downloads
  (the instance's disk cache is on: reloads skip S3), loads and evicts.
  The worst case, to show what a load costs.

    .venv/bin/python bench/multi_model.py [--seconds 4]

No timing is asserted anywhere; ratios are printed against the
single-model endpoint measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from serving import FEATURES, REPO, ROW, free_port, process, train_model, wait_http

from services.core.settings import Settings

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/bench"
BUCKET = "headwater-artifacts"
CONCURRENCY = (1, 8)


async def _connection(port: int, requests: list[bytes], until: float, warm_until: float, offset: int,
                      latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors, n = 0, offset
    try:
        while (start := time.perf_counter()) < until:
            writer.write(requests[n % len(requests)])
            n += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line[15:]) for line in head.split(b"\r\n")
                           if line[:15].lower() == b"content-length:"), 0)
            await reader.readexactly(length)
            errors += not head.startswith(b"HTTP/1.1 200")
            if start >= warm_until:
                latencies.append(time.perf_counter() - start)
    finally:
        writer.close()
    return errors


async def drive(port: int, endpoint: str, targets: list[str | None], concurrency: int,
                seconds: float) -> dict[str, float]:
    """``concurrency`` connections, each cycling through ``targets`` (``None``: no TargetModel header)."""
    requests = [(f"POST /endpoints/{endpoint}/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
                 f"Accept: text/csv\r\n{f'X-Amzn-SageMaker-Target-Model: {t}' + chr(13) + chr(10) if t else ''}"
                 f"Content-Length: {len(ROW)}\r\n\r\n").encode() + ROW for t in targets]
    latencies: list[float] = []
    now = time.perf_counter()
    errors = await asyncio.gather(*(_connection(port, requests, now + 0.5 + seconds, now + 0.5, i, latencies)
                                    for i in range(concurrency)))
    ms = np.array(latencies) * 1000
    return {"rps": len(ms) / seconds, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "errors": float(sum(errors))}


def _archive(model_dir: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(model_dir / "xgboost-model", arcname="xgboost-model")
    return buf.getvalue()


def _endpoint(sm: Any, name: str, container: dict[str, str]) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, **container})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    while (status := sm.describe_endpoint(EndpointName=name)["EndpointStatus"]) == "Creating":
        time.sleep(0.2)
    if status != "InService":
        raise RuntimeError(f"endpoint {name} is {status}")


def run(base: Path, seconds: float) -> dict[str, dict[int, dict[str, float]]]:
    """Start a node, deploy both endpoints, measure the three rows."""
    for i in range(3):
        train_model(base / f"m{i}")
    state = base / "node"
    servers = ["port", "sagemaker-port", "runtime-port", "lambda-port"]
    if "autoscaling_port" in Settings.model_fields:  # every server on a free port, none on a default one
        servers.append("autoscaling-port")
    ports = {k: free_port() for k in servers}
    cmd = [str(REPO / ".venv" / "bin" / "headwater"), "--state-dir", str(state), "up",
           *[a for k, v in ports.items() for a in (f"--{k}", str(v))]]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HEADWATER_MAX_LOADED_MODELS": "2"}
    with process(cmd, env, cwd=base) as proc:
        wait_http(ports["runtime-port"], "/ping", proc)
        while not (state / "endpoints.json").exists():
            time.sleep(0.2)
        creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{ports['port']}", **creds)
        sm = boto3.client("sagemaker", endpoint_url=f"http://127.0.0.1:{ports['sagemaker-port']}", **creds)
        for i in range(3):
            s3.put_object(Bucket=BUCKET, Key=f"bench-mme/m{i}.tar.gz", Body=_archive(base / f"m{i}"))
        s3.put_object(Bucket=BUCKET, Key="bench-single/model.tar.gz", Body=_archive(base / "m0"))
        _endpoint(sm, "single", {"ModelDataUrl": f"s3://{BUCKET}/bench-single/model.tar.gz"})
        _endpoint(sm, "mme", {"Mode": "MultiModel", "ModelDataUrl": f"s3://{BUCKET}/bench-mme/"})
        port = ports["runtime-port"]
        rows = {"single-model": ("single", [None]), "mme warm": ("mme", ["m0.tar.gz"]),
                "mme thrash": ("mme", ["m0.tar.gz", "m1.tar.gz", "m2.tar.gz"])}
        results = {}
        for label, (endpoint, targets) in rows.items():
            print(f"measuring {label} ...", flush=True)
            results[label] = {c: asyncio.run(drive(port, endpoint, targets, c, seconds)) for c in CONCURRENCY}
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per cell")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hw-bench-mme-") as tmp:
        results = run(Path(tmp), args.seconds)
    base = results["single-model"]
    print(f"\n1-row CSV, built-in XGBoost (100 trees, depth 6, {FEATURES} features), loopback, {os.cpu_count()} "
          f"CPUs shared by client and server, load average {os.getloadavg()[0]:.1f}\n")
    print(f"{'endpoint':<14} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'vs single':>9}")
    for label, rows in results.items():
        for c, r in rows.items():
            print(f"{label:<14} {c:>4} {r['rps']:>8.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>6.0f} "
                  f"{r['rps'] / base[c]['rps']:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
