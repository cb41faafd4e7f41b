"""User functions: warm invoke latency and throughput, beside the in-process limit and a fresh process each time.

Starts one node in this process (embedded moto, every server) on free
loopback ports with its state in a temporary directory, creates one
function (a handler that imports boto3 and echoes its event) and measures,
side by side in one run:

* ``boto3 invoke`` (``RequestResponse``) of the warm function: p50 / p99
  latency and invocations per second at concurrency 1 and 8 (8 client
  threads, one boto3 client each; the function's environments scale out to
  8 first);
* the same handler called in this process (the limit: no HTTP, no process);
* a fresh ``python`` process per invocation importing the handler and
  calling it once (what a naive runner does);
* cold start: a new function version's first invocation, with the ``Init
  Duration`` its ``REPORT`` line gives (the environment's spawn to its first
  poll of the Runtime API), repeated ``--cold`` times;
* S3 ``PutObject`` -> function start through the rule path: a bucket with
  ``EventBridgeConfiguration``, an EventBridge rule on its "Object Created"
  events targeting a function, which notes the wall-clock time it started
  (``--uploads`` uploads, one at a time, each waited for on the function's
  ``OnSuccess`` queue before the next).

No timing is asserted anywhere; this prints figures.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import NodeThread, free_port_settings  # noqa: E402

HANDLER = """
import boto3  # what a typical function imports: part of its cold start

def handler(event, context):
    return {"echo": event}
"""
ROLE = "arn:aws:iam::123456789012:role/bench"
ACCOUNT = "123456789012"
ON_UPLOAD = """
import time

def handler(event, context):
    return {"started": time.time(), "key": event["detail"]["object"]["key"]}
"""


def _zip(source: str = HANDLER) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", source)
    return buf.getvalue()


def _upload_to_start(node: NodeThread, uploads: int) -> list[float]:
    """Milliseconds from ``PutObject`` to the start of the function a rule on the upload's event targets."""
    lam, events, s3, sqs = (node.client(s) for s in ("lambda", "events", "s3", "sqs"))
    s3.create_bucket(Bucket="bench-uploads")
    s3.put_bucket_notification_configuration(Bucket="bench-uploads",
                                             NotificationConfiguration={"EventBridgeConfiguration": {}})
    url = sqs.create_queue(QueueName="bench-started")["QueueUrl"]
    lam.create_function(FunctionName="bench-on-upload", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": _zip(ON_UPLOAD)}, MemorySize=128)
    lam.get_waiter("function_active_v2").wait(FunctionName="bench-on-upload", WaiterConfig={"Delay": 1})
    lam.put_function_event_invoke_config(FunctionName="bench-on-upload", DestinationConfig={
        "OnSuccess": {"Destination": f"arn:aws:sqs:us-east-1:{ACCOUNT}:bench-started"}})
    events.put_rule(Name="bench-on-upload", EventPattern=json.dumps({
        "source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": ["bench-uploads"]}}}))
    events.put_targets(Rule="bench-on-upload", Targets=[
        {"Id": "fn", "Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:bench-on-upload"}])
    out: list[float] = []
    for i in range(uploads + 1):  # the first one warms the function's environment up, and is not counted
        key = f"raw/{i}.csv"
        sent = time.time()
        s3.put_object(Bucket="bench-uploads", Key=key, Body=b"a,b\n1,2\n")
        while True:
            messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
            if not messages:
                continue
            sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
            result = json.loads(messages[0]["Body"])["responsePayload"]
            if result["key"] == key:
                break
        if i:
            out.append((result["started"] - sent) * 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _run(call: Callable[[], Any], n: int, concurrency: int) -> tuple[list[float], float]:
    """Latencies (ms) of ``n`` calls spread over ``concurrency`` threads, and the calls per second."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = n // concurrency

    def worker() -> None:
        mine = []
        for _ in range(per_thread):
            t = time.perf_counter()
            call()
            mine.append((time.perf_counter() - t) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, len(latencies) / (time.perf_counter() - start)


def _line(label: str, latencies: list[float], rate: float) -> str:
    return (f"{label:<44} p50 {statistics.median(latencies):8.2f} ms   p99 {_pct(latencies, 0.99):8.2f} ms   "
            f"{rate:8.0f} /s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=400, help="invocations per warm measurement")
    parser.add_argument("--fresh", type=int, default=20, help="invocations with a fresh python process each")
    parser.add_argument("--cold", type=int, default=5, help="cold starts")
    parser.add_argument("--uploads", type=int, default=50, help="uploads for PutObject -> function start")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="hw-bench-functions-"))
    node = NodeThread(free_port_settings(state, function_concurrency=8)).start()
    try:
        lam = node.client("lambda")
        lam.create_function(FunctionName="bench", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": _zip()}, MemorySize=256)
        lam.get_waiter("function_active_v2").wait(FunctionName="bench", WaiterConfig={"Delay": 1})
        payload = json.dumps({"hello": "world"}).encode()
        local = threading.local()

        def invoke() -> None:
            if not hasattr(local, "client"):
                local.client = node.client("lambda")
            resp = local.client.invoke(FunctionName="bench", Payload=payload)
            resp["Payload"].read()

        # Warm up: environments for 8 at once, and the clients' connections.
        _run(invoke, 64, 8)
        print(f"warm invoke of a function importing boto3 ({args.n} invocations each; {sys.version.split()[0]})")
        for concurrency in (1, 8):
            print(_line(f"boto3 invoke, concurrency {concurrency}", *_run(invoke, args.n, concurrency)))

        namespace: dict[str, Any] = {}
        exec(HANDLER, namespace)  # noqa: S102 - the same handler, in this process
        handler = namespace["handler"]
        for concurrency in (1, 8):
            print(_line(f"in-process call, concurrency {concurrency}",
                        *_run(lambda: json.dumps(handler(json.loads(payload), None)), args.n, concurrency)))

        code = tempfile.mkdtemp(prefix="hw-bench-code-")
        (Path(code) / "app.py").write_text(HANDLER)
        script = "import json, sys, app; print(json.dumps(app.handler(json.loads(sys.argv[1]), None)))"

        def fresh() -> None:
            subprocess.run([sys.executable, "-c", script, payload.decode()], cwd=code, check=True,
                           capture_output=True)

        print(_line("fresh python process per invoke, concurrency 1", *_run(fresh, args.fresh, 1)))

        colds, inits = [], []
        for i in range(args.cold):
            lam.update_function_configuration(FunctionName="bench", Environment={"Variables": {"ROUND": str(i)}})
            lam.get_waiter("function_updated_v2").wait(FunctionName="bench", WaiterConfig={"Delay": 1})
            t = time.perf_counter()
            resp = lam.invoke(FunctionName="bench", Payload=payload, LogType="Tail")
            colds.append((time.perf_counter() - t) * 1000)
            report = [line for line in base64.b64decode(resp["LogResult"]).decode().splitlines()
                      if line.startswith("REPORT")][0]
            inits.append(float(report.split("Init Duration: ")[1].split(" ms")[0]))
        print(f"{'cold start (boto3 invoke, new environment)':<44} p50 {statistics.median(colds):8.2f} ms   "
              f"max {max(colds):8.2f} ms")
        print(f"{'  of which Init Duration (spawn -> first poll)':<44} p50 {statistics.median(inits):8.2f} ms   "
              f"max {max(inits):8.2f} ms")

        starts = _upload_to_start(node, args.uploads)
        print(f"{'S3 PutObject -> function start (rule path)':<44} p50 {statistics.median(starts):8.2f} ms   "
              f"p95 {_pct(starts, 0.95):8.2f} ms")
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
