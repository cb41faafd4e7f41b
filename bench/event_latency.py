"""Event-to-training latency of a Headwater node on the embedded emulator.

Starts one node in this process (embedded moto, control plane, handler
runtime, worker) on free loopback ports with its state in a temporary
directory, uploads N generated churn CSVs, each to its own dataset
``datasets/bench-<i>/train/churn.csv`` so that each upload starts exactly one
built-in XGBoost job, and measures for every file:

* PutObject returned -> training container started. "Container started" is
  the moment the runner had launched the container process: the timestamp
  of the ``Headwater: started <module> (pid N) for <job>`` line the executor
  writes to the job's CloudWatch log stream right after the runner's start
  call returned (epoch milliseconds taken with ``time.time()`` in this
  process). The container's own first output line is reported beside it.
* PutObject returned -> job Completed: the start time of the job's
  ``Completed`` SecondaryStatusTransition.
* In-process training time of the same file: the same CSV parsed with numpy
  and trained with xgboost directly, with the hyperparameters the job got
  (``HyperParameters`` of its description, parsed as the container parses
  them), timed after the node has stopped so nothing competes for the CPU.

Every timestamp is wall-clock time (``time.time()`` or ``datetime.now()``)
taken in this one process, so both ends of every interval use one clock.

Uploads are sequential: each PutObject is issued after the previous one
returned plus ``--gap`` seconds, and only while fewer than
``--max-in-flight`` benchmark jobs (default: the worker concurrency) are
unfinished, so the figures are the latency of an idle slot, not the length of
a backlog. ``--max-in-flight 0`` turns the limit off (an open-loop burst).

To say where the time goes, the node's AWS clients are wrapped to timestamp
each API call (a few microseconds per call; ``--no-trace`` turns it off), and
the job's own SecondaryStatusTransitions split the rest. The same wrappers count
every emulator call the node makes, by kind (S3, SQS, EventBridge, Logs
operation): per job from its PutObject to its container start and to its
``Completed`` (with ``--max-in-flight 1``, when no two jobs overlap), and over
the whole run divided by the jobs.

No timing is asserted: the exit status is non-zero only when a job does not
complete (fails, is stopped, or is still running at the global timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import xgboost as xgb  # noqa: E402
from aiobotocore.session import get_session  # noqa: E402

from containers.xgboost.hyperparameters import parse_hyperparameters  # noqa: E402
from infra.demo.datasets import make_churn, to_csv  # noqa: E402
from infra.node import HeadwaterNode  # noqa: E402
from services.aws.session import client_kwargs  # noqa: E402
from services.core.settings import Settings  # noqa: E402
from services.execution.log_shipper import TRAINING_LOG_GROUP  # noqa: E402
from services.training.models import SecondaryStatus, TrainingJob, TrainingJobStatus  # noqa: E402

TARGET_STARTED_P50_S = 0.5
LOOPBACK = "127.0.0.1"
JOBS_PREFIX = "training-jobs/"
POLL_SECONDS = 0.1  # pacing/progress polls only; measured times come from recorded timestamps
STARTED_MARK = "Headwater: started "
STOP_GRACE_SECONDS = 30.0
INPROCESS_BUDGET_SECONDS = 120.0
_COUNTER = itertools.count(1)


# --------------------------------------------------------------------------- records


@dataclass
class FileRun:
    """One uploaded file and what became of it."""

    index: int
    dataset: str
    key: str
    csv: bytes
    put_start: float = 0.0
    put_end: float = 0.0
    job: str | None = None
    doc: TrainingJob | None = None
    first_line: float | None = None  # when the container's first output line reached the executor
    spawned: float | None = None  # the "Headwater: started" log event
    handler_received: float | None = None  # the handler runtime's ReceiveMessage returned the S3 event
    task_received: float | None = None  # a worker slot's ReceiveMessage returned the job's task
    worker_task: int = 0  # the asyncio task (worker slot) that received it
    log: list[tuple[float, str]] = field(default_factory=list)  # the job's log events (epoch s, line)
    inprocess_s: float | None = None

    @property
    def terminal(self) -> bool:
        return self.doc is not None and self.doc.training_job_status.is_terminal

    def transition(self, status: SecondaryStatus) -> float | None:
        """Start time (epoch seconds) of this job's first ``status`` transition."""
        for t in (self.doc.secondary_status_transitions if self.doc else []):
            if t.status == status:
                return t.start_time.timestamp()
        return None

    @property
    def created(self) -> float | None:
        return self.doc.creation_time.timestamp() if self.doc else None

    def logged(self, test: Any, last: bool = False) -> float | None:
        """Time of the first (or last) container log line for which ``test(line)`` holds."""
        hits = [ts for ts, line in self.log if not line.startswith(STARTED_MARK) and test(line)]
        return (hits[-1] if last else hits[0]) if hits else None


@dataclass
class Call:
    """One AWS API call the node made."""

    op: str
    start: float
    end: float
    actor: str  # which part of the node made it (from the asyncio task's coroutine)
    task_id: int
    dataset: str | None  # the benchmark dataset the call names, when it names one
    job: str | None = None  # the job a worker's attempt task runs, for calls made in one


@dataclass
class Tracer:
    """Timestamps the node's AWS calls and notes which message each receive returned."""

    calls: list[Call] = field(default_factory=list)
    handler_received: dict[str, float] = field(default_factory=dict)  # S3 key -> time
    task_received: dict[str, tuple[float, int]] = field(default_factory=dict)  # job -> (time, worker task id)
    handler_queues: set[str] = field(default_factory=set)
    handler_funcs: set[str] = field(default_factory=set)  # qualnames of the registered handler functions
    tasks_queue: str = ""
    max_calls: int = 200_000
    _serials: weakref.WeakKeyDictionary[asyncio.Task[Any], int] = field(default_factory=weakref.WeakKeyDictionary)

    def serial(self, task: asyncio.Task[Any] | None) -> int:
        """A number unique to ``task`` for the whole run (``id()`` is reused once a task is freed)."""
        if task is None:
            return 0
        if task not in self._serials:
            self._serials[task] = next(_COUNTER)
        return self._serials[task]

    def wrap(self, client: Any, service: str) -> None:
        original = client._make_api_call

        async def traced(operation_name: str, api_params: dict[str, Any]) -> Any:
            start = time.time()
            result = None
            try:
                result = await original(operation_name, api_params)
                return result
            finally:
                end = time.time()
                task = asyncio.current_task()
                if len(self.calls) < self.max_calls:
                    self.calls.append(Call(f"{service}.{operation_name}", start, end, self._actor(task),
                                           self.serial(task), _dataset_of(operation_name, api_params),
                                           _attempt_job(task)))
                if operation_name == "ReceiveMessage" and result and result.get("Messages"):
                    self._note_receive(api_params.get("QueueUrl", ""), result["Messages"], end, self.serial(task))

        client._make_api_call = traced

    def _note_receive(self, url: str, messages: list[dict[str, Any]], when: float, task_id: int) -> None:
        queue = url.rstrip("/").rsplit("/", 1)[-1]
        for m in messages:
            try:
                body = json.loads(m.get("Body", ""))
            except ValueError:
                continue
            if queue == self.tasks_queue and isinstance(body, dict) and "name" in body:
                self.task_received.setdefault(body["name"], (when, task_id))
            elif queue in self.handler_queues and isinstance(body, dict):
                key = (body.get("detail") or {}).get("object", {}).get("key")
                if key:
                    self.handler_received.setdefault(key, when)

    def _actor(self, task: asyncio.Task[Any] | None) -> str:
        if task is None:
            return "?"
        name = getattr(task.get_coro(), "__qualname__", "") or task.get_name()
        if name in self.handler_funcs:
            return "handler"  # run_record runs the handler function in a task of its own
        return {
            "HandlerRuntime._poll": "handler poll",
            "HandlerRuntime._process": "handler runtime",
            "HandlerRuntime._keep_invisible": "handler keep-invisible",
            "Worker._slot": "worker",
            "Worker._execute": "worker",  # the claimed attempt, in a task of its own
            "Worker._heartbeat": "worker heartbeat",
            "Worker._reap_loop": "worker reaper",
            "LogShipper._flush_loop": "log shipper",
        }.get(name, name)


def _attempt_job(task: asyncio.Task[Any] | None) -> str | None:
    """The job a worker's attempt task (``Worker._execute(executor, claim)``) runs, else ``None``."""
    coro = task.get_coro() if task is not None else None
    if getattr(coro, "__qualname__", "") != "Worker._execute":
        return None
    claim = coro.cr_frame.f_locals.get("claim") if coro.cr_frame is not None else None  # type: ignore[union-attr]
    return getattr(claim, "name", None)


def _dataset_of(op: str, params: dict[str, Any]) -> str | None:
    """The ``bench-<i>`` dataset an AWS call is about, when its parameters name one."""
    def from_job(name: str) -> str | None:
        return name.rsplit("-", 1)[0] if name.startswith("bench-") else None

    for k in ("Key", "Prefix"):
        v = params.get(k)
        if isinstance(v, str) and v.startswith("datasets/bench-"):
            return v.split("/")[1]
        if isinstance(v, str) and "training-jobs/" in v:
            return from_job(v.rsplit("/", 1)[-1].removesuffix(".json"))
    if op == "SendMessage":
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            return from_job(json.loads(params.get("MessageBody", ""))["name"])
    if isinstance(params.get("logStreamName"), str):
        return from_job(params["logStreamName"].split("/", 1)[0])
    return None


# --------------------------------------------------------------------------- statistics


def pct(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), NaN when empty."""
    return float(np.percentile(values, q)) if values else float("nan")


def row(label: str, values: list[float], unit: str = "s", width: int = 48) -> str:
    if not values:
        return f"  {label:<{width}} {'-':>9} {'-':>9} {'-':>9}   (n=0)"
    fmt = (lambda v: f"{v:8.3f}s") if unit == "s" else (lambda v: f"{v:8.2f}x")
    return (f"  {label:<{width}} {fmt(pct(values, 50)):>9} {fmt(pct(values, 95)):>9} "
            f"{fmt(max(values)):>9}   (n={len(values)})")


def diffs(runs: list[FileRun], a: Any, b: Any) -> list[float]:
    out = []
    for r in runs:
        x, y = a(r), b(r)
        if x is not None and y is not None:
            out.append(y - x)
    return out


# --------------------------------------------------------------------------- the run


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.runs: list[FileRun] = []
        self.tracer = Tracer() if not args.no_trace else None
        self.first_lines: dict[str, float] = {}
        self.deadline = time.monotonic() + args.timeout
        self.node: HeadwaterNode | None = None
        self.load_before = _loadavg()
        self.load_after = ""

    def on_line(self, job: str, line: str) -> None:
        # Called by the executor for each line the container prints.
        self.first_lines.setdefault(job, time.time())

    def left(self) -> float:
        return self.deadline - time.monotonic()

    async def run(self) -> int:
        a = self.args
        state = Path(tempfile.mkdtemp(prefix="headwater-bench-"))
        settings = Settings(state_dir=state, aws_endpoint=None, emulator_host=LOOPBACK, bind_host=LOOPBACK,
                            emulator_port=0, sagemaker_port=0, runtime_port=0, lambda_port=0,
                            runner="process", worker_concurrency=a.concurrency)
        try:
            for i in range(a.files):
                X, y = make_churn(a.rows, seed=1000 + i)
                dataset = f"bench-{i}"
                self.runs.append(FileRun(i, dataset, f"datasets/{dataset}/train/churn.csv", to_csv(X, y)))
            t_node = time.time()
            async with HeadwaterNode(settings, on_line=self.on_line) as node:
                self.node = node
                s = node.settings
                print(f"node up in {time.time() - t_node:.1f} s: emulator {node.endpoints['aws']}, "
                      f"sagemaker {node.endpoints.get('sagemaker')}", flush=True)
                if self.tracer:
                    self._install_tracer(node)
                stop = asyncio.Event()
                serving = asyncio.create_task(node.serve(stop), name="node")
                try:
                    await asyncio.wait_for(self._scenario(s), timeout=max(1.0, self.left()))
                except asyncio.TimeoutError:
                    print(f"TIMEOUT: the run did not finish within {a.timeout:g} s", flush=True)
                    await self._stop_unfinished()
                finally:
                    stop.set()
                    try:
                        await asyncio.wait_for(serving, timeout=STOP_GRACE_SECONDS)
                    except asyncio.TimeoutError:
                        print("the node did not stop within the grace period; cancelling it", flush=True)
                        serving.cancel()
                        with contextlib.suppress(BaseException):
                            await serving
                self.load_after = _loadavg()
                await self._collect(node)
            self._in_process_training()
            return self._report(settings)
        finally:
            shutil.rmtree(state, ignore_errors=True)

    def _install_tracer(self, node: HeadwaterNode) -> None:
        assert self.tracer is not None and node.services is not None and node.runtime is not None
        svc = node.services
        self.tracer.tasks_queue = svc.tasks.queue_name
        self.tracer.handler_queues = {node.settings.queue_name(name) for name in node.runtime.specs}
        self.tracer.handler_funcs = {spec.func.__qualname__ for spec in node.runtime.specs.values()}
        bus: Any = svc.events.publisher  # the EventBridge publisher behind the event outbox
        for client, service in ((svc.s3.client, "s3"), (svc.sqs.client, "sqs"),
                                (svc.logs.client, "logs"), (bus.client, "events")):
            self.tracer.wrap(client, service)

    async def _scenario(self, s: Settings) -> None:
        a = self.args
        limit = a.max_in_flight if a.max_in_flight > 0 else a.files
        session = get_session()
        async with session.create_client("s3", **client_kwargs(s, "s3")) as s3:
            tracker = asyncio.create_task(self._track(), name="tracker")
            try:
                for r in self.runs:
                    # Wait for a free slot: fewer than `limit` uploaded files with unfinished jobs.
                    while sum(1 for x in self.runs if x.put_end and not x.terminal) >= limit:
                        if self.left() <= 0:
                            raise asyncio.TimeoutError
                        await asyncio.sleep(POLL_SECONDS)
                    if r.index and a.gap > 0:
                        await asyncio.sleep(a.gap)
                    r.put_start = time.time()
                    await s3.put_object(Bucket=s.data_bucket, Key=r.key, Body=r.csv, ContentType="text/csv")
                    r.put_end = time.time()
                    print(f"  put {r.key} ({len(r.csv) / 1024:.0f} KiB) in {r.put_end - r.put_start:.3f} s",
                          flush=True)
                await tracker
            finally:
                tracker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await tracker

    async def _track(self) -> None:
        """Find each upload's job and follow it to a terminal status (bounded by the deadline)."""
        assert self.node is not None and self.node.services is not None
        store = self.node.services.training.store
        by_dataset = {r.dataset: r for r in self.runs}
        while self.left() > 0:
            uploaded = [r for r in self.runs if r.put_end]
            if any(r.job is None for r in uploaded):
                for key in await store.backend.keys(JOBS_PREFIX):
                    name = key[len(JOBS_PREFIX):].removesuffix(".json")
                    r = by_dataset.get(name.rsplit("-", 1)[0])
                    if r is not None and r.job is None:
                        r.job = name
            for r in uploaded:
                if r.job and not r.terminal:
                    r.doc = await store.get(r.job)
                    if r.terminal:
                        status = r.doc.training_job_status.value  # type: ignore[union-attr]
                        at = r.transition(SecondaryStatus.COMPLETED) or time.time()
                        print(f"  {r.job}: {status} {at - r.put_end:6.2f} s after PutObject", flush=True)
            if len(uploaded) == len(self.runs) and all(r.terminal for r in self.runs):
                return
            await asyncio.sleep(POLL_SECONDS)
        raise asyncio.TimeoutError

    async def _stop_unfinished(self) -> None:
        assert self.node is not None and self.node.services is not None
        for r in self.runs:
            if r.job and not r.terminal:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.node.services.training.stop_training_job(r.job), 10)

    async def _collect(self, node: HeadwaterNode) -> None:
        """Read back, from what Headwater recorded, the final documents and launch times."""
        assert node.services is not None
        store, logs = node.services.training.store, node.services.logs.client
        for r in self.runs:
            if r.job is None:
                continue
            r.doc = await asyncio.wait_for(store.get(r.job), 30)
            r.first_line = self.first_lines.get(r.job)
            if self.tracer:
                r.handler_received = self.tracer.handler_received.get(r.key)
                r.task_received, r.worker_task = self.tracer.task_received.get(r.job, (None, 0))
            stream = r.doc.headwater.log_stream if r.doc else None
            token: str | None = None
            for _ in range(50 if stream else 0):  # pages of the job's log stream, bounded
                kwargs: dict[str, Any] = {"logGroupName": TRAINING_LOG_GROUP, "logStreamName": stream,
                                          "startFromHead": True}
                if token:
                    kwargs["nextToken"] = token
                resp = await asyncio.wait_for(logs.get_log_events(**kwargs), 30)
                events = resp.get("events", [])
                r.log += [(int(ev["timestamp"]) / 1000.0, str(ev["message"])) for ev in events]
                if not events or resp.get("nextForwardToken") == token:
                    break
                token = resp.get("nextForwardToken")
            r.spawned = next((ts for ts, line in r.log if line.startswith(STARTED_MARK)), None)

    def _in_process_training(self) -> None:
        """Train each file directly: numpy parse + DMatrix + xgb.train, as its job was configured.

        Runs after the node stopped. One untimed warm-up (thread pools, lazy
        initialisation), then each file ``--repeat`` times; the fastest is kept,
        the best estimate of the work itself on a machine shared with others.
        """
        ncpu = _cpu_count()
        done = [r for r in self.runs if r.doc is not None and r.doc.hyper_parameters]
        deadline = time.monotonic() + INPROCESS_BUDGET_SECONDS
        for k, r in enumerate(done):
            if time.monotonic() > deadline:
                print(f"in-process training stopped after {k} files: over its {INPROCESS_BUDGET_SECONDS:g} s budget")
                break
            config = parse_hyperparameters(r.doc.hyper_parameters or {}, num_cpus=ncpu)  # type: ignore[union-attr]
            times = []
            for _ in range(self.args.repeat + (1 if k == 0 else 0)):
                t0 = time.perf_counter()
                data = np.loadtxt(io.BytesIO(r.csv), delimiter=",", ndmin=2)
                dtrain = xgb.DMatrix(data[:, 1:], label=data[:, 0], nthread=config.params["nthread"])
                xgb.train(config.params, dtrain, num_boost_round=config.num_round, evals=[(dtrain, "train")],
                          verbose_eval=False)
                times.append(time.perf_counter() - t0)
            r.inprocess_s = min(times[1:] if k == 0 else times)

    # ----------------------------------------------------------------------- report

    def _report(self, settings: Settings) -> int:
        a = self.args
        runs = self.runs
        ok = [r for r in runs if r.doc is not None and r.doc.training_job_status is TrainingJobStatus.COMPLETED]
        bad = [r for r in runs if r not in ok]
        put_end = lambda r: r.put_end or None  # noqa: E731
        started = diffs(ok, put_end, lambda r: r.spawned)
        completed = diffs(ok, put_end, lambda r: r.transition(SecondaryStatus.COMPLETED))
        inproc = [r.inprocess_s for r in ok if r.inprocess_s is not None]
        ratios = [(r.transition(SecondaryStatus.COMPLETED) - r.put_end) / r.inprocess_s  # type: ignore[operator]
                  for r in ok if r.inprocess_s and r.transition(SecondaryStatus.COMPLETED)]
        size = np.mean([len(r.csv) for r in runs]) / 1024

        print()
        print("Headwater event latency benchmark (embedded emulator)")
        print(f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores "
              f"({_cpu_count()} usable), Python {platform.python_version()}, xgboost {xgb.__version__}")
        print(f"load:    1-min load average {self.load_before} before the run, {self.load_after} at its end "
              f"(other processes on this machine share its cores)")
        print(f"node:    one node, runner {settings.runner}, worker_concurrency {a.concurrency}, "
              f"handler_concurrency {settings.handler_concurrency}, poll_wait_seconds {settings.poll_wait_seconds}")
        limit = (f"at most {a.max_in_flight} unfinished jobs at a time" if a.max_in_flight > 0
                 else "no limit on unfinished jobs (open loop)")
        print(f"files:   N={a.files} files x {a.rows:,} rows ({size:.0f} KiB each), one dataset per file; "
              f"sequential PutObject, gap {a.gap:g} s, {limit}")
        print("uploads: each file's job is the only one of its dataset; 'in-process' = fastest of "
              f"{a.repeat} direct runs per file, after the node stopped")
        print("clock:   time.time() wall clock of this process at both ends of every interval")
        print("started: 'container started' = the runner had launched the container process: timestamp of the")
        print("         executor's 'Headwater: started <module> (pid N)' log event, written right after launch")
        print()
        print(f"  {'metric':<48} {'p50':>9} {'p95':>9} {'max':>9}")
        print(row("PutObject -> container started", started))
        print(row("PutObject -> job Completed", completed))
        print(row("in-process training (numpy load + xgb.train)", inproc))
        print(row("overhead: (PutObject -> Completed) / in-proc", ratios, unit="x"))
        if inproc and completed:
            print(f"  {'  (ratio of the p50s)':<48} {pct(completed, 50) / pct(inproc, 50):8.2f}x")
        print()
        print("  where the time goes (per job, from recorded timestamps)")
        stages: list[tuple[str, Any, Any]] = [
            ("PutObject call itself", lambda r: r.put_start or None, put_end),
        ]
        if self.tracer:
            stages += [
                ("PutObject -> handler ReceiveMessage returned", put_end, lambda r: r.handler_received),
                ("handler received -> job created", lambda r: r.handler_received, lambda r: r.created),
                ("job created -> worker ReceiveMessage returned", lambda r: r.created, lambda r: r.task_received),
                ("worker received -> Downloading (claim)", lambda r: r.task_received,
                 lambda r: r.transition(SecondaryStatus.DOWNLOADING)),
            ]
        else:
            stages += [
                ("PutObject -> job created (event + handler)", put_end, lambda r: r.created),
                ("job created -> Downloading (task queue+claim)", lambda r: r.created,
                 lambda r: r.transition(SecondaryStatus.DOWNLOADING)),
            ]
        stages += [
            ("Downloading -> Training (input download)", lambda r: r.transition(SecondaryStatus.DOWNLOADING),
             lambda r: r.transition(SecondaryStatus.TRAINING)),
            ("Training -> container started (launch)", lambda r: r.transition(SecondaryStatus.TRAINING),
             lambda r: r.spawned),
            ("container started -> Uploading (container run)", lambda r: r.spawned,
             lambda r: r.transition(SecondaryStatus.UPLOADING)),
            ("  started -> first output line (python+imports)", lambda r: r.spawned, lambda r: r.first_line),
            ("  first line -> 'Channel train' (read CSV)", lambda r: r.first_line, _channel_line),
            ("  'Channel train' -> last round (xgb.train)", _channel_line, lambda r: r.logged(_is_round, last=True)),
            ("  last round -> 'Saved model' (save, reload)", lambda r: r.logged(_is_round, last=True), _saved_line),
            ("  'Saved model' -> Uploading (exit, reap)", _saved_line,
             lambda r: r.transition(SecondaryStatus.UPLOADING)),
            ("Uploading -> Completed (pack + upload model)", lambda r: r.transition(SecondaryStatus.UPLOADING),
             lambda r: r.transition(SecondaryStatus.COMPLETED)),
        ]
        for label, x, y in stages:
            print(row(label, diffs(ok, x, y)))
        if self.tracer:
            print("  (the emulator delivers S3 -> EventBridge -> SQS inside the PutObject call, so the handler may")
            print("   receive the event before PutObject has returned to the uploader: values below zero)")
        if self.tracer:
            self._report_calls(ok)
            self._report_call_counts(ok)
        print()
        if started:
            p50 = pct(started, 50)
            verdict = "MET" if p50 < TARGET_STARTED_P50_S else "NOT MET"
            print(f"target: p50 PutObject -> container started < {TARGET_STARTED_P50_S} s on the embedded "
                  f"emulator: {verdict} (p50 {p50:.3f} s)")
        else:
            print(f"target: p50 PutObject -> container started < {TARGET_STARTED_P50_S} s: NOT MEASURED")
        for r in bad:
            status = r.doc.training_job_status.value if r.doc else "no job"
            reason = (r.doc.failure_reason or "") if r.doc else ""
            print(f"FAILED: {r.key}: {r.job or '-'}: {status} {reason}".rstrip())
        return 1 if bad else 0

    def _report_calls(self, ok: list[FileRun]) -> None:
        """The AWS calls on each job's way from its event to its launch, attributed per job."""
        assert self.tracer is not None
        calls = self.tracer.calls
        handler_tasks: dict[str, set[int]] = defaultdict(set)
        for c in calls:
            if c.actor == "handler" and c.dataset:
                handler_tasks[c.dataset].add(c.task_id)
        per_op: dict[tuple[str, str], list[float]] = defaultdict(list)
        per_job: dict[str, list[float]] = defaultdict(list)
        n = 0
        for r in ok:
            if r.spawned is None or r.task_received is None:
                continue
            n += 1
            mine = {"handler": [c for c in calls if c.task_id in handler_tasks.get(r.dataset, set())],
                    "worker": [c for c in calls if c.actor == "worker"
                               and (c.task_id == r.worker_task or c.job == r.job)
                               and r.task_received <= c.start <= r.spawned]}
            for who, cs in mine.items():
                for c in cs:
                    per_op[(who, c.op)].append(c.end - c.start)
                per_job[who].append(sum(c.end - c.start for c in cs))
                per_job[who + " calls"].append(float(len(cs)))
        if not n:
            return
        print()
        print("  AWS calls on the path to launch, per job: the handler (event -> job created -> task enqueued)")
        print("  and the worker slot (task received -> container started)")
        print(f"  {'who':<8} {'operation':<28} {'calls/job':>9} {'ms/call p50':>11} {'ms/job':>8}")
        for (who, op), durs in sorted(per_op.items(), key=lambda kv: (kv[0][0], -sum(kv[1]))):
            print(f"  {who:<8} {op:<28} {len(durs) / n:9.1f} {1000 * pct(durs, 50):11.1f} "
                  f"{1000 * sum(durs) / n:8.1f}")
        for who in ("handler", "worker"):
            print(f"  {who:<8} {'(all calls)':<28} {np.mean(per_job[who + ' calls']):9.1f} {'':>11} "
                  f"{1000 * np.mean(per_job[who]):8.1f}")


    def _report_call_counts(self, ok: list[FileRun]) -> None:
        """Every emulator call the node made, by kind: per job from its PutObject to its container start
        and to its ``Completed`` (exact when one job runs at a time), and over the whole run per job."""
        assert self.tracer is not None
        calls = [c for c in self.tracer.calls if not c.actor.startswith("Bench.")]  # not this benchmark's polls
        windows: list[tuple[str, Any]] = [("-> started", lambda r: r.spawned),
                                          ("-> Completed", lambda r: r.transition(SecondaryStatus.COMPLETED))]
        counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        n = {label: 0 for label, _ in windows}
        if self.args.max_in_flight == 1:
            for r in ok:
                for label, end in windows:
                    stop = end(r)
                    if stop is None or not r.put_start:
                        continue
                    n[label] += 1
                    for c in calls:
                        if r.put_start <= c.start <= stop:
                            counts[c.op][label] += 1
        stamps = [t for r in ok for t in (r.put_start, r.transition(SecondaryStatus.COMPLETED)) if t]
        if ok and stamps:
            first, last = min(stamps), max(stamps)
            for c in calls:
                if first <= c.start <= last:
                    counts[c.op]["run"] += 1
        if not counts:
            return
        idle = {"sqs.ReceiveMessage"}  # long polls: they wait on the queue, idle or not
        print()
        print("  emulator calls per job, every part of the node (handlers, worker, log shipper...), by kind:")
        print("  from the job's PutObject to its container start / its Completed (only with --max-in-flight 1,")
        print("  when no other job overlaps), and every call from the first PutObject to the last Completed")
        heads = [label for label, _ in windows] + ["run / jobs"]
        print(f"  {'operation':<28} " + " ".join(f"{h:>13}" for h in heads))
        totals = defaultdict(float)
        for op in sorted(counts, key=lambda o: -counts[o]["run"]):
            vals = [counts[op][label] / n[label] if n[label] else float("nan") for label, _ in windows]
            vals.append(counts[op]["run"] / len(ok))
            for h, v in zip(heads, vals, strict=True):
                if op not in idle:
                    totals[h] += v
            print(f"  {op:<28} " + " ".join(f"{v:13.1f}" for v in vals))
        print(f"  {'(all but ReceiveMessage)':<28} " + " ".join(f"{totals[h]:13.1f}" for h in heads))


def _channel_line(r: FileRun) -> float | None:
    return r.logged(lambda line: line.startswith("Channel 'train'"))


def _saved_line(r: FileRun) -> float | None:
    return r.logged(lambda line: line.startswith("Saved model"))


def _is_round(line: str) -> bool:
    """An XGBoost evaluation line: ``[12]<TAB>train-logloss:...`` (the TAB shipped as ``#011``)."""
    head, _, _ = line.partition("]")
    return line.startswith("[") and head[1:].isdigit()


def _loadavg() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=20, help="files to upload, one dataset and one job each (20)")
    p.add_argument("--rows", type=int, default=2000, help="rows per file (2000)")
    p.add_argument("--concurrency", type=int, default=2, help="the node's worker_concurrency (2)")
    p.add_argument("--gap", type=float, default=0.25, help="seconds between one PutObject's return and the next (0.25)")
    p.add_argument("--max-in-flight", type=int, default=None,
                   help="upload only while fewer jobs are unfinished (default: --concurrency; 0: no limit)")
    p.add_argument("--repeat", type=int, default=3, help="in-process trainings per file; the fastest is kept (3)")
    p.add_argument("--timeout", type=float, default=600.0, help="global timeout in seconds (600)")
    p.add_argument("--no-trace", action="store_true", help="do not timestamp the node's AWS calls")
    args = p.parse_args(argv)
    if args.files < 1 or args.rows < 10 or args.concurrency < 1 or args.repeat < 1 or args.timeout <= 0:
        p.error("--files >= 1, --rows >= 10, --concurrency >= 1, --repeat >= 1 and --timeout > 0 are required")
    if args.max_in_flight is None:
        args.max_in_flight = args.concurrency
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's per-request access log
    # A last resort if shutdown itself hangs: the process ends by itself.
    watchdog = threading.Timer(args.timeout + 2 * STOP_GRACE_SECONDS + INPROCESS_BUDGET_SECONDS + 60,
                               lambda: (print("watchdog: exiting", flush=True), os._exit(3)))
    watchdog.daemon = True
    watchdog.start()
    try:
        return asyncio.run(Bench(args).run())
    finally:
        watchdog.cancel()


if __name__ == "__main__":
    sys.exit(main())
