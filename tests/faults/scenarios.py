"""Fault scenarios, each run as trials against a live node and counted the same way.

Each scenario injects one fault while a job (or an event, or a request) is
on its way, then waits for the outcome and counts what came out: how many
went in, how many completed exactly once, how many were duplicated, lost or
stuck, and the time from the fault to the outcome. The tests in this folder
run each scenario once or twice and assert the counts; ``bench/faults.py``
runs them with more trials and prints the table.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import numpy as np
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.demo.datasets import to_csv
from tests.integration.hosting_support import csv_row, deploy, model_archive, put_model, train_booster, variant
from tests.support import CREDS, NodeThread, free_port_settings, observe_events, source_archive, wait_for, wait_for_job
from tests.worker_processes import alive, container_pids, started, training_attempt, training_under_worker

ROLE = "arn:aws:iam::123456789012:role/headwater-faults"
TRAINING_STATE_CHANGE = "SageMaker Training Job State Change"
# A job that trains a few seconds after a restart, yet is still running when its first attempt is hurt.
SHORT_ROUNDS = 300


@dataclass
class Outcome:
    """What one scenario's trials came to."""

    scenario: str
    trials: int = 0
    items_in: int = 0  # jobs, events or requests that entered the system
    once: int = 0  # completed (or delivered, or answered) exactly once
    duplicated: int = 0
    lost: int = 0
    stuck: int = 0  # neither done nor failed by the deadline
    recover_s: list[float] = field(default_factory=list)  # from the fault to the outcome, per trial
    notes: list[str] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        """Fold another trial's counts into these."""
        self.trials += other.trials
        self.items_in += other.items_in
        self.once += other.once
        self.duplicated += other.duplicated
        self.lost += other.lost
        self.stuck += other.stuck
        self.recover_s += other.recover_s
        self.notes += other.notes

    @property
    def clean(self) -> bool:
        """Nothing duplicated, lost or stuck, and everything that went in came out once."""
        return not (self.duplicated or self.lost or self.stuck) and self.once == self.items_in


def _training_csv(rows: int = 300, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4))
    return to_csv(X, (X[:, 0] > 0).astype(int))


def _job_outcome(scenario: str, sm: Any, name: str, fault_at: float, timeout: float) -> Outcome:
    """One job: Completed with exactly one Training/Uploading/Completed pass, or not."""
    out = Outcome(scenario, trials=1, items_in=1)
    try:
        d = wait_for_job(sm, name, timeout=timeout)
    except AssertionError:
        out.stuck += 1
        return out
    out.recover_s.append(time.time() - fault_at)
    uploads = sum(t["Status"] == "Uploading" for t in d["SecondaryStatusTransitions"])
    if d["TrainingJobStatus"] != "Completed":
        out.lost += 1
        out.notes.append(f"{name}: {d['TrainingJobStatus']} {d.get('FailureReason', '')}".strip())
    elif uploads > 1:
        out.duplicated += 1
        out.notes.append(f"{name}: model uploaded {uploads} times")
    else:
        out.once += 1
    return out


# --------------------------------------------------------------------------- 1. one S3 event delivered 10 times


def _object_created(bucket: str, key: str, etag: str, size: int) -> dict[str, Any]:
    """The EventBridge "Object Created" event S3 sends for ``key`` (as in tests/events)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": "us-east-1", "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"version": "0", "bucket": {"name": bucket},
                       "object": {"key": key, "size": size, "etag": etag, "sequencer": "00617F08299329D189"},
                       "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject"}}


def duplicate_s3_event(node: NodeThread, trial: int, copies: int = 10, timeout: float = 120) -> Outcome:
    """Upload one training file (S3 delivers its event once) and put ``copies - 1`` more copies of the same event
    on the handler's queue at once: exactly one training job must result, and complete."""
    s, s3, sm, sqs = node.settings, node.client("s3"), node.client("sagemaker"), node.client("sqs")
    dataset = f"dup-{trial}-{uuid.uuid4().hex[:6]}"
    key = f"datasets/{dataset}/train/part.csv"
    body = _training_csv(seed=trial)
    before = node.runtime_stats("start-training-on-upload")
    fault_at = time.time()
    etag = s3.put_object(Bucket=s.data_bucket, Key=key, Body=body)["ETag"].strip('"')
    queue = sqs.get_queue_url(QueueName=s.queue_name("start-training-on-upload"))["QueueUrl"]
    event = json.dumps(_object_created(s.data_bucket, key, etag, len(body)))
    for _ in range(copies - 1):
        sqs.send_message(QueueUrl=queue, MessageBody=event)

    def handled() -> bool:
        now = node.runtime_stats("start-training-on-upload")
        return sum(now[k] - before[k] for k in now) >= copies

    out = Outcome("same S3 event delivered 10 times", trials=1, items_in=1)
    try:
        wait_for(handled, timeout, what=f"{copies} deliveries of the event to be handled")
    except AssertionError:
        out.stuck += 1
        return out
    jobs = sm.list_training_jobs(NameContains=dataset, MaxResults=100)["TrainingJobSummaries"]
    if not jobs:
        out.lost += 1
        return out
    result = _job_outcome(out.scenario, sm, jobs[0]["TrainingJobName"], fault_at, timeout)
    if len(jobs) > 1:
        result.once, result.duplicated = 0, 1
        result.notes.append(f"{dataset}: {len(jobs)} training jobs")
    failed = node.runtime_stats("start-training-on-upload")["dead_lettered"] - before["dead_lettered"]
    if failed:
        result.notes.append(f"{failed} deliveries dead-lettered")
    return result


# --------------------------------------------------------------------------- 2. a worker killed or stalled mid-training


def killed_worker(node: NodeThread, trial: int, logs: Path, timeout: float = 120) -> Outcome:
    """SIGKILL the worker running a job, with its container; a second worker must finish the job once.

    ``node`` runs no worker of its own."""
    with training_under_worker(node, f"killed-{trial}-{uuid.uuid4().hex[:6]}", logs, SHORT_ROUNDS) as run:
        run.first.kill_with_its_container(run.job_log, 1)
        fault_at = time.time()
        run.start_second()
        return _job_outcome("worker SIGKILLed mid-training", run.sm, run.name, fault_at, timeout)


def stalled_worker(node: NodeThread, trial: int, logs: Path, timeout: float = 120) -> Outcome:
    """SIGSTOP the worker running a job past its heartbeat, let a second worker take the job over, then SIGCONT
    the first: the job completes once, and the stalled worker writes nothing (it says it no longer holds it)."""
    with training_under_worker(node, f"stalled-{trial}-{uuid.uuid4().hex[:6]}", logs, SHORT_ROUNDS) as run:
        sm, name, job_log = run.sm, run.name, run.job_log
        run.first.pause()
        fault_at = time.time()
        run.start_second()
        wait_for(lambda: training_attempt(sm, name, 2) and started(job_log, 2), 60, what="attempt 2 training")
        stale = container_pids(job_log)[0]
        run.first.resume()
        out = _job_outcome("worker SIGSTOPped past its heartbeat, then resumed", sm, name, fault_at, timeout)
        try:
            wait_for(lambda: not alive(stale) and "no longer holds" in run.first.log.read_text(), 30,
                     what="the stalled worker to give the job up")
        except AssertionError:
            out.once, out.duplicated = 0, out.duplicated + 1
            out.notes.append(f"{name}: the stalled worker went on with its attempt")
        return out


def interrupted_worker(node: NodeThread, trial: int, logs: Path, timeout: float = 120) -> Outcome:
    """Ctrl-C (SIGINT to its process group) to the worker running a job while a second worker waits for work:
    the first hands the job back and exits, and the second completes it once.

    ``node`` runs no worker of its own."""
    with training_under_worker(node, f"interrupted-{trial}-{uuid.uuid4().hex[:6]}", logs, SHORT_ROUNDS) as run:
        sm, name, first = run.sm, run.name, run.first
        run.start_second()  # polls the queue: the job's next taker
        container = container_pids(run.job_log)[0]
        first.interrupt()
        fault_at = time.time()
        out = _job_outcome("Ctrl-C to a worker mid-training (job handed back)", sm, name, fault_at, timeout)
        try:
            code = first.proc.wait(30)
        except subprocess.TimeoutExpired:
            code = None
        if code != 0 or "handed back" not in first.log.read_text():
            out.notes.append(f"{name}: the interrupted worker exited with {code} without saying it handed the job back")
        transitions = sm.describe_training_job(TrainingJobName=name)["SecondaryStatusTransitions"]
        restarts = [t for t in transitions if t["Status"] == "Restarting"]
        if len(restarts) != 1 or "handed it back" not in restarts[0]["StatusMessage"]:
            out.notes.append(f"{name}: restarts {[t['StatusMessage'] for t in restarts]}, not one hand-back")
        if alive(container):
            out.once, out.duplicated = 0, out.duplicated + 1
            out.notes.append(f"{name}: the interrupted worker's container still runs")
        return out


# --------------------------------------------------------------------------- 3. the bus refuses PutEvents


class FailingPublisher:
    """Wraps a publisher: refuses the next ``failures`` publishes as a bus that does not answer would."""

    def __init__(self, inner: Any, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.published: list[dict[str, Any]] = []  # details the bus was asked to take, refused ones included

    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        self.published.append(detail)
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("EventBridge did not answer (injected)")
        return await self.inner.publish(detail_type, detail, resources)


def observe_training_events(node: NodeThread, name: str) -> str:
    """A rule and a queue of our own that receive the training state-change events; return the queue URL."""
    return observe_events(node, f"faults-observe-{name}", TRAINING_STATE_CHANGE)


def _drain(node: NodeThread, queue: str) -> list[dict[str, Any]]:
    sqs, got = node.client("sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return got
        for m in messages:
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def _key(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, default=str)


def refused_publish(node: NodeThread, trial: int, failures: int = 2, timeout: float = 120) -> Outcome:
    """EventBridge refuses the first ``failures`` PutEvents of a job's state changes: every state-change event
    still reaches a rule once the bus answers (the workers' sweep republishes the overdue records)."""
    assert node.node is not None and node.node.services is not None
    sm, name = node.client("sagemaker"), f"refused-{trial}-{uuid.uuid4().hex[:6]}"
    queue = observe_training_events(node, name)
    outbox = node.node.services.events
    failing = FailingPublisher(outbox.publisher, failures)
    outbox.publisher = failing
    out = Outcome("EventBridge refuses PutEvents", trials=1)
    try:
        fault_at = time.time()
        start_short_job(node, name)
        wait_job = _job_outcome(out.scenario, sm, name, fault_at, timeout)
        if wait_job.stuck:
            out.stuck += 1
    finally:
        outbox.publisher = failing.inner
    mine = {_key(d): d for d in failing.published if d.get("TrainingJobName") == name}
    out.items_in = len(mine)
    received: dict[str, int] = {}

    def everything_arrived() -> bool:
        for event in _drain(node, queue):
            if event["detail"].get("TrainingJobName") == name:
                received[_key(event["detail"])] = received.get(_key(event["detail"]), 0) + 1
        return set(mine) <= set(received)

    try:
        wait_for(everything_arrived, timeout, interval=0.5, what=f"the state-change events of {name}")
        out.recover_s.append(time.time() - fault_at)
    except AssertionError:
        pass
    everything_arrived()  # a duplicate that came late is counted too
    out.once = sum(1 for k in mine if received.get(k) == 1)
    out.duplicated = sum(1 for k in mine if received.get(k, 0) > 1)
    out.lost = sum(1 for k in mine if k not in received)
    return out


def start_short_job(node: NodeThread, name: str, rows: int = 300) -> None:
    """Start a small built-in XGBoost training job ``name`` on ``node`` (its data uploaded first); no wait."""
    s3, sm = node.client("s3"), node.client("sagemaker")
    s3.put_object(Bucket="headwater-data", Key=f"faults/{name}/train.csv", Body=_training_csv(rows))
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
        HyperParameters={"num_round": "5", "objective": "binary:logistic"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://headwater-data/faults/{name}/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/faults"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300})


# --------------------------------------------------------------------------- 4. the task queue refuses a send


def refused_enqueue(node: NodeThread, trial: int, timeout: float = 120) -> Outcome:
    """SQS refuses the task's SendMessage during CreateTrainingJob: the job still runs, once (the workers'
    sweep sends the promised task)."""
    assert node.node is not None and node.node.services is not None
    tasks = node.node.services.training.tasks
    sm, name = node.client("sagemaker"), f"unqueued-{trial}-{uuid.uuid4().hex[:6]}"
    original: Callable[..., Awaitable[None]] = tasks.enqueue
    refused: list[str] = []

    async def refuse_once(task: Any, *args: Any, **kwargs: Any) -> None:
        if task.name == name and not refused:
            refused.append(task.name)
            raise ConnectionError("SQS did not answer (injected)")
        await original(task, *args, **kwargs)

    tasks.enqueue = refuse_once  # type: ignore[method-assign]
    try:
        fault_at = time.time()
        start_short_job(node, name)
        out = _job_outcome("task queue refuses the send once", sm, name, fault_at, timeout)
    finally:
        del tasks.enqueue  # the class's method again
    if not refused:
        out.notes.append("the fault was not injected")
    return out


# --------------------------------------------------------------------------- 5. a 1 MB log line, a pathological regex

LOGGER_SCRIPT = """\
import os, sys
# One 1 MB line, then a few lines on which (a+)+$ backtracks for ever, then a model.
sys.stdout.write("x" * (1 << 20) + "\\n")
for _ in range(3):
    sys.stdout.write("a" * 5000 + "!\\n")
sys.stdout.flush()
os.makedirs(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"), exist_ok=True)
with open(os.path.join(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"), "model.txt"), "w") as fh:
    fh.write("ok")
"""


@dataclass
class Poller:
    """DescribeTrainingJob in a loop on its own thread, timing each call and counting the ones that failed."""

    node: NodeThread
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        sm = self.node.client("sagemaker")
        while time.monotonic() < end and not self._stop.is_set():
            self._once(sm)

    def _once(self, sm: Any) -> None:
        t = time.perf_counter()
        try:
            sm.describe_training_job(TrainingJobName=self.name)
        except Exception:  # noqa: BLE001 - counted: every call should be answered
            self.errors += 1
        self.latencies.append(time.perf_counter() - t)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=lambda: self.run_for(3600), daemon=True)
        thread.start()
        return thread

    def stop(self, thread: threading.Thread) -> None:
        self._stop.set()
        thread.join(30)


def p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")


def noisy_job(node: NodeThread, trial: int, timeout: float = 120, baseline_s: float = 3.0) -> tuple[Outcome, float]:
    """A job prints a 1 MB line and lines on which its metric regex ``(a+)+$`` backtracks catastrophically: it
    completes or fails with a note, and the API answers every DescribeTrainingJob meanwhile. Returns the outcome
    and the ratio of DescribeTrainingJob p99 during the job to p99 on the idle node just before it."""
    s3, sm = node.client("s3"), node.client("sagemaker")
    name = f"noisy-{trial}-{uuid.uuid4().hex[:6]}"
    s3.put_object(Bucket="headwater-artifacts", Key=f"faults/{name}/sourcedir.tar.gz",
                  Body=source_archive(LOGGER_SCRIPT, "noisy.py"))
    s3.put_object(Bucket="headwater-data", Key=f"faults/{name}/train.csv", Body=_training_csv())
    start_short_job(node, f"{name}-idle")  # something to describe for the baseline
    wait_for_job(sm, f"{name}-idle", timeout=timeout)
    baseline = Poller(node, f"{name}-idle")
    baseline.run_for(baseline_s)
    during = Poller(node, f"{name}-idle")
    thread = during.start()
    out = Outcome("1 MB log line + (a+)+$ metric regex", trials=1, items_in=1)
    try:
        fault_at = time.time()
        sm.create_training_job(
            TrainingJobName=name, RoleArn=ROLE,
            AlgorithmSpecification={"TrainingImage": "headwater/sklearn", "TrainingInputMode": "File",
                                    "MetricDefinitions": [{"Name": "evil", "Regex": "(a+)+$"}]},
            HyperParameters={"sagemaker_program": '"noisy.py"',
                             "sagemaker_submit_directory": f'"s3://headwater-artifacts/faults/{name}/sourcedir.tar.gz"'},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://headwater-data/faults/{name}/"}}}],
            OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/faults"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 300})
        try:
            d = wait_for_job(sm, name, timeout=timeout)
        except AssertionError:
            out.stuck += 1
            return out, float("nan")
        out.recover_s.append(time.time() - fault_at)
    finally:
        during.stop(thread)
    if d["TrainingJobStatus"] == "Completed" or (d["TrainingJobStatus"] == "Failed" and d.get("FailureReason")):
        out.once += 1
    else:
        out.lost += 1
    out.notes.append(f"{name}: {d['TrainingJobStatus']} {d.get('FailureReason', '')}".strip())
    if baseline.errors or during.errors:
        out.notes.append(f"DescribeTrainingJob errors: {baseline.errors} before, {during.errors} during")
        out.lost += during.errors
    ratio = p99(during.latencies) / p99(baseline.latencies)
    out.notes.append(f"DescribeTrainingJob p99 {1000 * p99(during.latencies):.1f} ms during "
                     f"({len(during.latencies)} calls) vs {1000 * p99(baseline.latencies):.1f} ms before: {ratio:.2f}x")
    return out, ratio


# --------------------------------------------------------------------------- 6. a connection reset on an endpoint instance


class ResettingProxy:
    """A loopback TCP proxy to one port that resets (RST) the connections through it when told to.

    Put between an endpoint instance and its inference container, it stands for the network between the
    two: :meth:`arm` makes the next request bytes it sees meet a reset, and every other open connection
    (the instance's pooled keep-alive ones) is reset at the same moment. New connections pass as before.
    Put between a node and its AWS endpoint, it stands for an emulator that goes away: :meth:`go_dark`
    resets every open connection and every new one until :meth:`come_back`."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._armed = threading.Event()
        self._dark = threading.Event()
        self._epoch = 0  # a connection opened before the current epoch is reset
        self.reset_at: float | None = None
        self.resets = 0  # connections reset
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self) -> None:
        """Reset on the next request bytes."""
        self._armed.set()

    def go_dark(self) -> float:
        """Reset every open connection, and every new one until :meth:`come_back`; return when it began."""
        with self._lock:
            self._dark.set()
            self.reset_at = time.time()
            return self.reset_at

    def come_back(self) -> None:
        """Forward new connections again."""
        self._dark.clear()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the proxy as an HTTP endpoint."""
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        if self._dark.is_set():  # nothing answers: the connection is reset as it opens
            self._count_reset(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:
            _reset(client)
            return
        epoch = self._epoch
        try:
            while not self._closed:
                # Another connection met the fault, or the upstream went dark: this one is reset too.
                if self._epoch != epoch or self._dark.is_set():
                    self._count_reset(client)
                    return
                ready, _, _ = select.select([client, upstream], [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client and self._armed.is_set():
                        with self._lock:
                            fire = self._armed.is_set()
                            self._armed.clear()
                            if fire:
                                self._epoch += 1
                                self.reset_at = time.time()
                        if fire:  # the request was sent; its connection is reset before the container sees it
                            self._count_reset(client)
                            return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()
            client.close()

    def _count_reset(self, client: socket.socket) -> None:
        with self._lock:
            self.resets += 1
        _reset(client)


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass
class EndpointLoad:
    """Closed-loop InvokeEndpoint clients on threads, each call recorded as (answered at, answered OK).

    Each request carries its own ``InferenceId`` (``<client>-<n>``), which data capture records: the ids of
    the requests answered 200 are kept in :attr:`answered`."""

    runtime_url: str  # the node's sagemaker-runtime endpoint
    endpoint: str
    clients: int = 4
    results: list[tuple[float, bool]] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(self.clients):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, n: int) -> None:
        # No retries of the SDK's own: a request the endpoint failed must count as failed.
        rt = boto3.client("sagemaker-runtime", endpoint_url=self.runtime_url,
                          config=Config(retries={"total_max_attempts": 1}), **CREDS)
        rows = np.random.default_rng(n).normal(size=(64, 4)).astype(np.float32)
        i = 0
        while not self._stop.is_set():
            inference_id = f"{n}-{i}"
            try:
                rt.invoke_endpoint(EndpointName=self.endpoint, Body=csv_row(rows[i % len(rows)]),
                                   ContentType="text/csv", InferenceId=inference_id)["Body"].read()
                self.answered.append(inference_id)
                self.results.append((time.time(), True))
            except Exception as err:  # noqa: BLE001 - counted: every request should be answered
                self.results.append((time.time(), False))
                self.errors.append(f"{type(err).__name__}: {err}")
            i += 1

    def ok(self) -> int:
        return sum(ok for _, ok in self.results)

    def stop(self, timeout: float = 60) -> int:
        """Stop sending; return how many clients are still waiting for an answer after ``timeout``."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in self._threads)


def reset_endpoint_connection(node: NodeThread, trial: int, requests_after: int = 40,
                              timeout: float = 60) -> Outcome:
    """An endpoint (the built-in XGBoost model, one instance) under load from 4 clients; the connections between
    its instance and the inference container are reset, one of them as a request is sent on it. Every request
    must still be answered: the instance tries a broken connection's request once more on a fresh one."""
    assert node.node is not None and node.node.hosting is not None
    sm, endpoint = node.client("sagemaker"), f"reset-{trial}-{uuid.uuid4().hex[:6]}"
    put_model(node, endpoint, model_archive(train_booster(trial)))
    desc = deploy(node, endpoint, [variant("AllTraffic", endpoint)])
    out = Outcome("connection reset on an endpoint instance", trials=1)
    if desc["EndpointStatus"] != "InService":
        out.notes.append(f"{endpoint}: {desc['EndpointStatus']} {desc.get('FailureReason', '')}")
        out.stuck += 1
        return out
    [instance] = node.node.hosting.manager.live[endpoint].instances()
    proxy = ResettingProxy(instance.ports[0])
    instance.ports[0] = proxy.port  # the instance reaches its container through the proxy from now on
    load = EndpointLoad(node.endpoints["runtime"], endpoint)
    load.start()
    fault_at = float("inf")
    try:
        wait_for(lambda: load.ok() >= 20, timeout, what="the endpoint to answer under load")
        proxy.arm()
        wait_for(lambda: proxy.reset_at is not None, timeout, interval=0.05, what="a request to meet the reset")
        assert proxy.reset_at is not None
        fault_at = proxy.reset_at
        wait_for(lambda: sum(t > fault_at for t, _ in load.results) >= requests_after, timeout,
                 what="requests after the reset to be answered")
    finally:
        out.stuck = load.stop()
        instance.ports[0] = proxy.upstream
        proxy.close()
        sm.delete_endpoint(EndpointName=endpoint)
    out.items_in = len(load.results) + out.stuck
    out.once = load.ok()
    out.lost = len(load.results) - out.once
    after = [t for t, ok in load.results if ok and t > fault_at]
    if after:
        out.recover_s.append(min(after) - fault_at)
    out.notes.append(f"{endpoint}: {proxy.resets} connections reset, {out.items_in} requests")
    out.notes += sorted(set(load.errors))[:3]
    return out


# --------------------------------------------------------------------------- 7. the AWS endpoint unreachable mid-job

HELD_SCRIPT = """\
import os, sys, time
# Trains until the file named by the "release" hyperparameter appears (a minute at most), then saves a model.
print("Headwater fault suite: training until released", flush=True)
release, deadline = os.environ["SM_HP_RELEASE"], time.monotonic() + 60
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)
model_dir = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
os.makedirs(model_dir, exist_ok=True)
with open(os.path.join(model_dir, "model.txt"), "w") as fh:
    fh.write("ok")
print("Headwater fault suite: released, model saved", flush=True)
"""


def _held_job(node: NodeThread, name: str, release: Path) -> None:
    """A script-mode job whose container trains until ``release`` exists: the fault lands mid-training, and
    the container ends when the scenario says."""
    s3, sm = node.client("s3"), node.client("sagemaker")
    s3.put_object(Bucket="headwater-artifacts", Key=f"faults/{name}/sourcedir.tar.gz",
                  Body=source_archive(HELD_SCRIPT, "held.py"))
    s3.put_object(Bucket="headwater-data", Key=f"faults/{name}/train.csv", Body=_training_csv())
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "headwater/sklearn", "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"held.py"', "release": json.dumps(str(release)),
                         "sagemaker_submit_directory": f'"s3://headwater-artifacts/faults/{name}/sourcedir.tar.gz"'},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://headwater-data/faults/{name}/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://headwater-artifacts/faults"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300})


@contextlib.contextmanager
def node_behind_proxy(state_dir: Path, aws_endpoint: str) -> Iterator[tuple[NodeThread, ResettingProxy]]:
    """A node that reaches its AWS endpoint (an emulator the node does not embed) through a
    :class:`ResettingProxy`, so that a scenario can take the endpoint away and bring it back. It runs one job
    at a time (a second one waits in the task queue), with a 3 s visibility timeout."""
    proxy = ResettingProxy(int(urlsplit(aws_endpoint).port or 80))
    settings = free_port_settings(state_dir, aws_endpoint=proxy.url, visibility_timeout=3, worker_concurrency=1)
    try:
        node = NodeThread(settings).start()
    except BaseException:
        proxy.close()
        raise
    try:
        yield node, proxy
    finally:
        node.stop()
        proxy.close()


@dataclass
class _DarkDescriber:
    """DescribeTrainingJob in a loop on its own thread, as a boto3 user without retries calls it, while the
    endpoint is dark: the answers (an AWS error code, or ``OK``) and the calls that got none."""

    node: NodeThread
    name: str
    answers: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sm = boto3.client("sagemaker", endpoint_url=self.node.endpoints["sagemaker"], **CREDS,
                          config=Config(retries={"total_max_attempts": 1}, read_timeout=30, connect_timeout=5))
        while not self._stop.is_set():  # a call started while dark is counted, whenever it is answered
            try:
                sm.describe_training_job(TrainingJobName=self.name)
                self.answers.append("OK")
            except ClientError as err:
                self.answers.append(err.response["Error"]["Code"])
            except BotoCoreError as err:  # no answer at all: the control plane did not serve the call
                self.unanswered.append(f"{type(err).__name__}: {err}")

    def halt(self) -> None:
        """Send no more calls (the one in flight is still counted)."""
        self._stop.set()

    def join(self, timeout: float = 60) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def _events_by_status(node: NodeThread, queue: str, names: set[str],
                      received: dict[str, dict[str, int]]) -> None:
    """Drain ``queue`` and count each job's state-change events by secondary status."""
    for event in _drain(node, queue):
        detail = event["detail"]
        if detail.get("TrainingJobName") in names:
            per_job = received.setdefault(detail["TrainingJobName"], {})
            per_job[detail["SecondaryStatus"]] = per_job.get(detail["SecondaryStatus"], 0) + 1


def unreachable_emulator(node: NodeThread, proxy: ResettingProxy, trial: int, dark_s: float = 10.0,
                         release_after_s: float = 1.0, timeout: float = 120) -> Outcome:
    """A job trains and a second one waits in the task queue when the node's AWS endpoint goes dark for
    ``dark_s`` (every connection to it reset); the first job's container ends ``release_after_s`` into the
    outage, then the endpoint answers again. Each job completes exactly once (one container, one model
    upload), each of its state changes reaches a rule once, and the control plane answers every
    DescribeTrainingJob meanwhile (with an AWS error code while the endpoint is dark). "In" counts the two
    jobs and the DescribeTrainingJob calls sent while dark.

    ``node`` and ``proxy`` come from :func:`node_behind_proxy`."""
    sm, tag = node.client("sagemaker"), f"dark-{trial}-{uuid.uuid4().hex[:6]}"
    running, queued = f"{tag}-running", f"{tag}-queued"
    names = {running, queued}
    queue = observe_training_events(node, tag)
    release = node.settings.state_dir / f"{running}.release"
    _held_job(node, running, release)
    start_short_job(node, queued)
    job_log = node.settings.jobs_dir / running / "algo-1.log"
    wait_for(lambda: training_attempt(sm, running, 1) and started(job_log, 1), 60, what=f"{running} training")
    container = container_pids(job_log)[0]
    out = Outcome("AWS endpoint unreachable for 10 s mid-job", trials=1)
    describer = _DarkDescriber(node, running)
    fault_at = proxy.go_dark()
    try:
        describer.start()
        # The fault's schedule, not a wait for a condition: the container ends release_after_s into the
        # outage (its worker has seen the outage while it ran; what it did must now be recorded), and the
        # outage lasts dark_s.
        time.sleep(release_after_s)
        release.touch()
        time.sleep(max(0.0, fault_at + dark_s - time.time()))
        ended_dark = not alive(container)
    finally:
        describer.halt()  # only calls sent while dark are counted
        release.touch()
        proxy.come_back()
        describer.join()
    if not ended_dark:
        out.notes.append(f"{running}: its container was still running when the endpoint came back")
    # Every DescribeTrainingJob sent while dark must be answered (an AWS error code, as a boto3 user gets).
    out.items_in += len(describer.answers) + len(describer.unanswered)
    out.once += len(describer.answers)
    out.lost += len(describer.unanswered)
    out.notes.append(f"DescribeTrainingJob while dark: {len(describer.answers)} answered "
                     f"({', '.join(sorted(set(describer.answers)))}), {len(describer.unanswered)} not")
    out.notes += sorted(set(describer.unanswered))[:3]
    done: dict[str, Outcome] = {}
    for name in (running, queued):
        done[name] = result = _job_outcome(out.scenario, sm, name, fault_at, timeout)
        runs = len(container_pids(node.settings.jobs_dir / name / "algo-1.log"))
        if result.once and runs != 1:
            result.once, result.duplicated = 0, 1
            result.notes.append(f"{name}: {runs} containers started")
    # Every state change each job went through must reach the rule once (the sweep republishes what the
    # dark bus refused: wait for it).
    expected = {name: [t["Status"] for t in sm.describe_training_job(TrainingJobName=name)
                       ["SecondaryStatusTransitions"]] for name in names}
    received: dict[str, dict[str, int]] = {}

    def all_arrived() -> bool:
        _events_by_status(node, queue, names, received)
        return all(status in received.get(name, {}) for name in names for status in expected[name])

    try:
        wait_for(all_arrived, timeout, interval=0.5, what=f"the state-change events of {running} and {queued}")
    except AssertionError:
        pass
    _events_by_status(node, queue, names, received)  # a duplicate that came late is counted too
    for name, result in done.items():
        got = received.get(name, {})
        for status in dict.fromkeys(expected[name]):
            want = expected[name].count(status)
            if got.get(status, 0) != want:
                result.notes.append(f"{name}: {got.get(status, 0)} {status} events for {want} state changes")
                if result.once:
                    result.once = 0
                    if got.get(status, 0) > want:
                        result.duplicated += 1
                    else:
                        result.lost += 1
        out.add(Outcome(out.scenario, items_in=1, once=result.once, duplicated=result.duplicated,
                        lost=result.lost, stuck=result.stuck, recover_s=result.recover_s, notes=result.notes))
    return out
