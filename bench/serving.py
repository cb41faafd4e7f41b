"""Real-time serving throughput and latency of the built-in XGBoost model, side by side.

One model (the built-in XGBoost's ``xgboost-model``: 100 rounds, depth 6,
10 features, binary:logistic) is served by:

* ``headwater container``: ``python -m containers.xgboost serve``, the
  inference container itself, called directly on its port;
* ``headwater endpoint``: ``headwater up`` in a subprocess, the model
  deployed with CreateModel/CreateEndpointConfig/CreateEndpoint and called
  as ``POST /endpoints/<name>/invocations`` (runtime -> router -> container);
* ``flask+gunicorn``: a Flask app with the same parse and predict under
  gunicorn, one sync worker per CPU (the stack SageMaker's own algorithm
  containers use);
* ``mlflow serve``: ``mlflow models serve`` of the same booster saved with
  ``mlflow.xgboost`` (its CSV input needs a header line, so it gets one);
* ``in-process``: the Flask app's parse + XGBoost's public
  ``inplace_predict`` in a loop, no HTTP;
* ``in-process hooks``: the container's own ``input_fn`` -> ``predict_fn``
  -> ``output_fn`` in a loop, no HTTP (the limit of the container).

The Flask app predicts with ``inplace_predict``, as a user's app would. The
container predicts through the same C call with its arguments made once
(:mod:`containers.xgboost.dense_predict`), which saves about 0.2 ms of a
1-row prediction here; the two in-process rows show that difference alone.

Flask, gunicorn and MLflow are installed into ``bench/.venv`` (created on
first run; never the project's own dependencies). The load generator is a
minimal keep-alive HTTP/1.1 client on asyncio in this process: at
concurrency C, C connections each send one 1-row CSV request, wait for the
answer, and repeat, for ``--seconds`` after a warm-up; each cell is measured
``--rounds`` times in a row (3) and the round with the most requests/s is
reported, with the errors of all rounds. Every target runs on
the same loopback interface and CPUs as the client, one at a time.

    .venv/bin/python bench/serving.py [--seconds 4] [--rounds 3] [--skip-install]

Beside throughput and latency, each cell reports the server's CPU time per
request: user + system time of the server process and all its descendants
(for the endpoint: the node with its embedded emulator, and the inference
container's processes) over the cell, divided by the requests answered. On
a machine shared with other work, wall-clock throughput swings with the
load; CPU per request is what the server itself spends, and it is steadier.

No timing is asserted anywhere; the ratios are printed beside the baseline
(flask+gunicorn) measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import xgboost as xgb

REPO = Path(__file__).resolve().parent.parent
BENCH_VENV = REPO / "bench" / ".venv"
BENCH_PACKAGES = ["flask>=3,<4", "gunicorn>=22,<24", "mlflow>=2.16,<4", "xgboost>=3,<4", "numpy>=1.26,<3"]
FEATURES = 10
ROW = ",".join(f"{v:.4f}" for v in np.random.default_rng(5).normal(size=FEATURES)).encode()
CONCURRENCY = (1, 8, 32)

FLASK_APP = textwrap.dedent('''
    import os, numpy as np, xgboost as xgb
    from flask import Flask, Response, request
    booster = xgb.Booster(model_file=os.path.join(os.environ["MODEL_DIR"], "xgboost-model"))
    booster.set_param({"nthread": 1})
    app = Flask(__name__)

    @app.route("/ping", methods=["GET"])
    def ping():
        return Response("", status=200)

    @app.route("/invocations", methods=["POST"])
    def invocations():
        rows = [[float(c) for c in line.split(",")] for line in request.get_data(as_text=True).splitlines() if line]
        preds = booster.inplace_predict(np.array(rows, dtype=np.float32))
        return Response("\\n".join(map(repr, preds.tolist())), mimetype="text/csv")
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train_model(model_dir: Path) -> xgb.Booster:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, FEATURES)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.3}, xgb.DMatrix(X, label=y), 100)
    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / "xgboost-model.json"))
    (model_dir / "xgboost-model.json").rename(model_dir / "xgboost-model")
    return booster


def ensure_bench_venv(skip: bool) -> Path | None:
    """``bench/.venv`` with Flask, gunicorn and MLflow; ``None`` if it cannot be made."""
    python = BENCH_VENV / "bin" / "python"
    stamp = BENCH_VENV / ".installed"
    if stamp.exists() or skip:
        return python if python.exists() else None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *BENCH_PACKAGES], check=True)
    except subprocess.CalledProcessError as err:
        print(f"could not build the benchmark environment ({err}); flask and mlflow rows are skipped")
        return None
    stamp.touch()
    return python


# ------------------------------------------------------------------------------- load


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and every live descendant."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it exited meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(p, 0.0) for p in tree)


async def _one_connection(port: int, request: bytes, until: float, warm_until: float,
                          latencies: list[float], sent: list[int]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    try:
        while (start := time.perf_counter()) < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length, close = 0, False
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                close = close or line.lower() == b"connection: close"
            await reader.readexactly(length)
            sent[0] += 1
            if close:  # gunicorn's sync workers answer one request per connection
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
                errors += 1
            if start >= warm_until:
                latencies.append(time.perf_counter() - start)
    finally:
        writer.close()
    return errors


async def drive(port: int, path: str, body: bytes, concurrency: int, seconds: float,
                server_pid: int | None = None) -> dict[str, float]:
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nAccept: text/csv\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    latencies: list[float] = []
    sent = [0]  # every answered request, warm-up included (the CPU reading covers them all)
    warm = 0.5
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else 0.0
    now = time.perf_counter()
    errors = await asyncio.gather(*(_one_connection(port, request, now + warm + seconds, now + warm, latencies, sent)
                                    for _ in range(concurrency)))
    cpu = (tree_cpu_seconds(server_pid) - cpu_before) if server_pid else float("nan")
    lat = np.array(latencies) * 1000
    return {"rps": len(lat) / seconds, "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
            "errors": float(sum(errors)), "cpu_ms": cpu * 1000 / max(1, sent[0])}


def wait_http(port: int, path: str, proc: subprocess.Popen[bytes] | None, timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2):
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing answered on port {port}")


@contextlib.contextmanager
def process(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# Each cell is measured this many times in a row and the round with the most requests/s is kept
# (``--rounds``): this machine's speed drifts by up to 1.7x over minutes, for every target alike.
ROUNDS = 3


def fastest(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The round with the most requests/s, carrying the errors of every round (none is left out)."""
    best = dict(max(rounds, key=lambda r: r["rps"]))
    best["errors"] = sum(r["errors"] for r in rounds)
    return best


def measure(port: int, path: str, body: bytes, seconds: float, server_pid: int | None = None
            ) -> dict[int, dict[str, float]]:
    return {c: fastest([asyncio.run(drive(port, path, body, c, seconds, server_pid)) for _ in range(ROUNDS)])
            for c in CONCURRENCY}


# ---------------------------------------------------------------------------- targets


def bench_container(base: Path, seconds: float) -> dict[int, dict[str, float]]:
    port = free_port()
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), "SAGEMAKER_BIND_TO_PORT": str(port),
           "PYTHONPATH": str(REPO)}
    with process([sys.executable, "-m", "containers.xgboost", "serve"], env) as proc:
        wait_http(port, "/ping", proc)
        return measure(port, "/invocations", ROW, seconds, proc.pid)


def bench_endpoint(base: Path, seconds: float) -> dict[int, dict[str, float]]:
    import boto3

    state = base / "node"
    ports = {k: free_port() for k in ("port", "sagemaker-port", "runtime-port", "lambda-port", "autoscaling-port")}
    cmd = [str(REPO / ".venv" / "bin" / "headwater"), "--state-dir", str(state), "up",
           *[a for k, v in ports.items() for a in (f"--{k}", str(v))]]
    with process(cmd, {**os.environ, "PYTHONPATH": str(REPO)}, cwd=base) as proc:
        wait_http(ports["runtime-port"], "/ping", proc)
        while not (state / "endpoints.json").exists():
            time.sleep(0.2)
        creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{ports['port']}", **creds)
        sm = boto3.client("sagemaker", endpoint_url=f"http://127.0.0.1:{ports['sagemaker-port']}", **creds)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(base / "model" / "xgboost-model", arcname="xgboost-model")
        s3.put_object(Bucket="headwater-artifacts", Key="bench/model.tar.gz", Body=buf.getvalue())
        sm.create_model(ModelName="bench", ExecutionRoleArn="arn:aws:iam::123456789012:role/bench", PrimaryContainer={
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "ModelDataUrl": "s3://headwater-artifacts/bench/model.tar.gz"})
        sm.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "bench", "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large"}])
        sm.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
        while (status := sm.describe_endpoint(EndpointName="bench")["EndpointStatus"]) == "Creating":
            time.sleep(0.2)
        if status != "InService":
            raise RuntimeError(f"endpoint is {status}")
        return measure(ports["runtime-port"], "/endpoints/bench/invocations", ROW, seconds, proc.pid)


def bench_flask(python: Path, base: Path, seconds: float) -> dict[int, dict[str, float]]:
    (base / "flask_app.py").write_text(FLASK_APP)
    port = free_port()
    workers = str(os.cpu_count() or 1)
    env = {**os.environ, "MODEL_DIR": str(base / "model")}
    with process([str(python.parent / "gunicorn"), "-w", workers, "-b", f"127.0.0.1:{port}", "flask_app:app"],
                 env, cwd=base) as proc:
        wait_http(port, "/ping", proc)
        return measure(port, "/invocations", ROW, seconds, proc.pid)


def bench_mlflow(python: Path, base: Path, seconds: float) -> dict[int, dict[str, float]]:
    target = base / "mlflow-model"
    subprocess.run([str(python), "-c", "import sys, xgboost as xgb, mlflow.xgboost; "
                    "mlflow.xgboost.save_model(xgb.Booster(model_file=sys.argv[1]), sys.argv[2])",
                    str(base / "model" / "xgboost-model"), str(target)], check=True, capture_output=True)
    port = free_port()
    cmd = [str(python.parent / "mlflow"), "models", "serve", "-m", str(target), "-h", "127.0.0.1", "-p", str(port),
           "--env-manager", "local", "-w", str(os.cpu_count() or 1)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": str(base / "mlruns"),
           "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # it execs uvicorn by name
    with process(cmd, env, cwd=base) as proc:
        wait_http(port, "/ping", proc)
        header = ",".join(f"f{i}" for i in range(FEATURES)).encode()
        return measure(port, "/invocations", header + b"\n" + ROW, seconds, proc.pid)


def _in_process(one_request: Callable[[], object], seconds: float) -> dict[int, dict[str, float]]:
    one = fastest([_in_process_round(one_request, seconds) for _ in range(ROUNDS)])
    return {c: one for c in CONCURRENCY}


def _in_process_round(one_request: Callable[[], object], seconds: float) -> dict[str, float]:
    lat = []
    cpu_before = time.process_time()
    until = time.perf_counter() + seconds
    while (start := time.perf_counter()) < until:
        one_request()
        lat.append(time.perf_counter() - start)
    ms = np.array(lat) * 1000
    return {"rps": len(ms) / seconds, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "errors": 0.0, "cpu_ms": (time.process_time() - cpu_before) * 1000 / len(ms)}


def bench_in_process(booster: xgb.Booster, seconds: float) -> dict[int, dict[str, float]]:
    """Parse as the Flask app does and predict with XGBoost's public ``inplace_predict``."""
    booster.set_param({"nthread": 1})
    return _in_process(lambda: booster.inplace_predict(
        np.array([[float(c) for c in ROW.split(b",")]], dtype=np.float32)), seconds)


def bench_in_process_hooks(base: Path, seconds: float) -> dict[int, dict[str, float]]:
    """The container's own ``input_fn`` -> ``predict_fn`` -> ``output_fn``, without HTTP."""
    from containers.xgboost import serve

    os.environ["MODEL_SERVER_WORKERS"] = "1"  # one thread, as each serving process predicts
    model = serve.model_fn(str(base / "model"))
    return _in_process(lambda: serve.output_fn(serve.predict_fn(serve.input_fn(ROW, "text/csv"), model),
                                               "text/csv"), seconds)


def report(results: dict[str, dict[int, dict[str, float]] | str]) -> None:
    base = results.get("flask+gunicorn")
    print(f"\n1-row CSV, built-in XGBoost (100 trees, depth 6, {FEATURES} features), loopback, "
          f"{os.cpu_count()} CPUs shared by client and server\n")
    print(f"{'server':<20} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'vs flask':>9} "
          f"{'CPU ms/req':>10} {'vs flask':>9}")
    for name, rows in results.items():
        if isinstance(rows, str):
            print(f"{name:<20} {rows}")
            continue
        for c, r in rows.items():
            ratio = f"{r['rps'] / base[c]['rps']:.2f}x" if isinstance(base, dict) else "-"
            # CPU per request is the steadier figure on a shared machine: flask's over this one's.
            cpu_ratio = f"{base[c]['cpu_ms'] / r['cpu_ms']:.2f}x" if isinstance(base, dict) and r["cpu_ms"] else "-"
            conc = "-" if name.startswith("in-process") else str(c)
            print(f"{name:<20} {conc:>4} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>6.0f} "
                  f"{ratio:>9} {r['cpu_ms']:>10.3f} {cpu_ratio:>9}")
            if name.startswith("in-process"):
                break


def main() -> int:
    global ROUNDS
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per cell")
    parser.add_argument("--skip-install", action="store_true", help="do not build bench/.venv")
    parser.add_argument("--only", nargs="*", help="run only these targets")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per cell; the fastest is reported")
    args = parser.parse_args()
    ROUNDS = max(1, args.rounds)
    python = ensure_bench_venv(args.skip_install)
    results: dict[str, dict[int, dict[str, float]] | str] = {}
    with tempfile.TemporaryDirectory(prefix="hw-bench-") as tmp:
        base = Path(tmp)
        booster = train_model(base / "model")
        targets = {
            "headwater container": lambda: bench_container(base, args.seconds),
            "headwater endpoint": lambda: bench_endpoint(base, args.seconds),
            "flask+gunicorn": (lambda: bench_flask(python, base, args.seconds)) if python else None,
            "mlflow serve": (lambda: bench_mlflow(python, base, args.seconds)) if python else None,
            "in-process": lambda: bench_in_process(booster, args.seconds),
            "in-process hooks": lambda: bench_in_process_hooks(base, args.seconds),
        }
        for name, run in targets.items():
            if args.only and name not in args.only:
                continue
            if run is None:
                results[name] = "skipped: bench/.venv could not be built"
                continue
            print(f"measuring {name} ...", flush=True)
            try:
                results[name] = run()
            except Exception as err:  # noqa: BLE001 - one target's failure is reported, the rest still run
                results[name] = f"failed: {type(err).__name__}: {err}"
    report(results)
    print("\n" + json.dumps({k: v for k, v in results.items()}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
