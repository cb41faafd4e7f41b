"""Fault scenarios, each run as trials against a live node and counted the same way.

Each scenario injects one fault while a job (or an event, or a request) is
on its way, then waits for the outcome and counts what came out: how many
went in, how many completed exactly once, how many were duplicated, lost or
stuck, and the time from the fault to the outcome. The tests in this folder
run each scenario once or twice and assert the counts; ``bench/faults.py``
runs them with more trials and prints the table.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infra.demo.datasets import to_csv
from tests.support import NodeThread, wait_for, wait_for_job
from tests.worker_processes import WorkerProcess, alive, container_pids, slow_job, started, training_attempt

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
    sm, name = node.client("sagemaker"), f"killed-{trial}-{uuid.uuid4().hex[:6]}"
    slow_job(node, name, num_round=SHORT_ROUNDS)
    job_log = node.settings.jobs_dir / name / "algo-1.log"
    first = WorkerProcess(node, logs / f"{name}-w1.log")
    second: WorkerProcess | None = None
    try:
        wait_for(lambda: training_attempt(sm, name, 1) and started(job_log, 1), 60, what="attempt 1 training")
        first.kill_with_its_container(job_log, 1)
        fault_at = time.time()
        second = WorkerProcess(node, logs / f"{name}-w2.log")
        return _job_outcome("worker SIGKILLed mid-training", sm, name, fault_at, timeout)
    finally:
        first.stop()
        if second:
            second.stop()


def stalled_worker(node: NodeThread, trial: int, logs: Path, timeout: float = 120) -> Outcome:
    """SIGSTOP the worker running a job past its heartbeat, let a second worker take the job over, then SIGCONT
    the first: the job completes once, and the stalled worker writes nothing (it says it no longer holds it)."""
    sm, name = node.client("sagemaker"), f"stalled-{trial}-{uuid.uuid4().hex[:6]}"
    slow_job(node, name, num_round=SHORT_ROUNDS)
    job_log = node.settings.jobs_dir / name / "algo-1.log"
    first_log = logs / f"{name}-w1.log"
    first = WorkerProcess(node, first_log)
    second: WorkerProcess | None = None
    try:
        wait_for(lambda: training_attempt(sm, name, 1) and started(job_log, 1), 60, what="attempt 1 training")
        first.pause()
        fault_at = time.time()
        second = WorkerProcess(node, logs / f"{name}-w2.log")
        wait_for(lambda: training_attempt(sm, name, 2) and started(job_log, 2), 60, what="attempt 2 training")
        stale = container_pids(job_log)[0]
        first.resume()
        out = _job_outcome("worker SIGSTOPped past its heartbeat, then resumed", sm, name, fault_at, timeout)
        try:
            wait_for(lambda: not alive(stale) and "no longer holds" in first_log.read_text(), 30,
                     what="the stalled worker to give the job up")
        except AssertionError:
            out.once, out.duplicated = 0, out.duplicated + 1
            out.notes.append(f"{name}: the stalled worker went on with its attempt")
        return out
    finally:
        first.stop()
        if second:
            second.stop()


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
    s, sqs, events = node.settings, node.client("sqs"), node.client("events")
    queue = sqs.create_queue(QueueName=f"faults-observed-{name}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"faults-observe-{name}", EventBusName=s.event_bus,
                    EventPattern=json.dumps({"detail-type": [TRAINING_STATE_CHANGE]}))
    events.put_targets(Rule=f"faults-observe-{name}", EventBusName=s.event_bus, Targets=[{"Id": "q", "Arn": arn}])
    return queue


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
        _short_job(node, name)
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


def _short_job(node: NodeThread, name: str, rows: int = 300) -> None:
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
        _short_job(node, name)
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


def _source_archive(script: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = script.encode()
        info = tarfile.TarInfo("noisy.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


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
                  Body=_source_archive(LOGGER_SCRIPT))
    s3.put_object(Bucket="headwater-data", Key=f"faults/{name}/train.csv", Body=_training_csv())
    _short_job(node, f"{name}-idle")  # something to describe for the baseline
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
