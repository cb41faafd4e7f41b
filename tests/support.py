"""Test support: a Headwater node on free loopback ports, in a background thread.

Tests drive it the way users do, with blocking boto3 clients (and the
SageMaker SDK) over real HTTP, while the node runs its own event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import pickle
import socketserver
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from infra.emulator_state.journal import Journal
from infra.node import HeadwaterNode
from services.core.settings import Settings

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def free_port_settings(state_dir: Path, **overrides: Any) -> Settings:
    """Settings with every port chosen by the OS, and quick retry timings."""
    base: dict[str, Any] = dict(state_dir=state_dir, emulator_port=0, sagemaker_port=0, runtime_port=0,
                                lambda_port=0, autoscaling_port=0, console_port=0, visibility_timeout=6,
                                heartbeat_seconds=1.0, stop_grace_seconds=3.0)
    base.update(overrides)
    return Settings(**base)


class NodeThread:
    """Runs :class:`HeadwaterNode` in a thread until :meth:`stop`."""

    def __init__(self, settings: Settings, **node_kwargs: Any) -> None:
        self.settings = settings
        self.node_kwargs = node_kwargs
        self.node: HeadwaterNode | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="headwater-node", daemon=True)

    def _main(self) -> None:
        asyncio.run(self._amain())

    async def _amain(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with HeadwaterNode(self.settings, **self.node_kwargs) as node:
                self.node = node
                self.settings = node.settings
                node.write_endpoints()
                self._ready.set()
                await node.serve(self._stop)
        except BaseException as err:  # noqa: BLE001 - surfaced to the test thread
            self._error = err
            self._ready.set()

    def start(self, timeout: float = 60) -> NodeThread:
        """Start and wait until every endpoint serves."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("node did not start")
        if self._error:
            raise RuntimeError("node failed to start") from self._error
        return self

    def stop(self) -> None:
        """Stop the node and join its thread."""
        if self.loop and self._stop:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def run(self, coro: Any, timeout: float = 60) -> Any:
        """Run a coroutine on the node's loop (to use its services) and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def runtime_stats(self, handler: str) -> dict[str, int]:
        """Counters of the handler runtime for ``handler`` (succeeded, failed, dead_lettered)."""
        assert self.node is not None and self.node.runtime is not None
        return {k: self.node.runtime.stats[handler][k] for k in ("succeeded", "failed", "dead_lettered")}

    def wait_for_captures(self, timeout: float = 30) -> None:
        """Until every request the node's endpoints captured so far is in S3.

        Requests may go on meanwhile (traffic on another thread): what they capture is not waited for, so the
        wait ends even though something is always buffered. The count is exact while no upload fails (the
        tests' S3 does not); a failed batch goes back and is retried by the flush loop."""
        assert self.node is not None and self.node.hosting is not None
        capture = self.node.hosting.capture
        captured = capture.captured
        self.run(capture.flush(), timeout)  # at once, rather than at the next tick of the flush loop
        wait_for(lambda: capture.uploaded + capture.dropped >= captured, timeout,
                 what="the captured requests to land in S3")

    @property
    def endpoints(self) -> dict[str, str]:
        assert self.node is not None
        return self.node.endpoints

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` pointed at this node."""
        key = {"sagemaker": "sagemaker", "sagemaker-metrics": "metrics", "sagemaker-runtime": "runtime",
               "lambda": "lambda", "application-autoscaling": "autoscaling"}.get(service, "aws")
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
        return boto3.client(service, endpoint_url=self.endpoints[key], config=config, **CREDS, **kwargs)


def source_archive(script: str, program: str) -> bytes:
    """A ``sourcedir.tar.gz`` holding ``script`` as ``program``, as the SageMaker SDK uploads a script."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = script.encode()
        info = tarfile.TarInfo(program)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class LoopbackListener:
    """A TCP server on this machine's loopback, in a thread, keeping the first line of each connection.

    What a job reaches (or cannot) when it tries the network: ``port`` to give it, ``lines`` to read back.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        received = self.lines

        class _Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                received.append(self.rfile.readline().decode(errors="replace").strip())

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-listener", daemon=True)

    def __enter__(self) -> LoopbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def committed_s3_keys(emulator_state: Path, bucket: str) -> set[str]:
    """The keys of ``bucket`` in the embedded emulator's committed snapshots under ``emulator_state`` (read only:
    the journal may be live)."""
    keys: set[str] = set()
    for payload in Journal(emulator_state / "journal").records(repair=False):
        record = pickle.loads(payload)
        for key in record["put"]:
            if key[4:6] == ("buckets", bucket) and len(key) == 8:
                keys.add(key[7])
        for key in record["delete"]:
            if key[4:6] == ("buckets", bucket) and len(key) == 8:
                keys.discard(key[7])
    return keys


def wait_for(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.2, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_for_job(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    """Wait until training job ``name`` is terminal; return its description."""

    def done() -> dict[str, Any] | None:
        d = sm.describe_training_job(TrainingJobName=name)
        return d if d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") else None

    return wait_for(done, timeout, what=f"training job {name} to finish")


def observe_events(node: NodeThread, rule: str, detail_type: str) -> str:
    """A rule ``rule`` on the node's bus sending every ``detail_type`` event to a queue of the same name, as a
    user's own extra link would; returns the queue URL."""
    sqs, events, bus = node.client("sqs"), node.client("events"), node.settings.event_bus
    queue = sqs.create_queue(QueueName=rule)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"detail-type": [detail_type]}))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return queue


def write_wheel(directory: Path, package: str, version: str = "1.0") -> Path:
    """A pure-Python wheel of ``package`` (``VERSION = version``) in ``directory``: pip installs it from the
    file, with no index and no network."""
    files = {f"{package}/__init__.py": f"VERSION = {version!r}\n".encode(),
             f"{package}-{version}.dist-info/METADATA":
                 f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: {version}\n".encode(),
             f"{package}-{version}.dist-info/WHEEL":
                 b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b'=').decode()},"
              f"{len(body)}" for name, body in files.items()]
    record_name = f"{package}-{version}.dist-info/RECORD"
    files[record_name] = ("\n".join([*record, f"{record_name},,"]) + "\n").encode()
    path = directory / f"{package}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for name, body in files.items():
            whl.writestr(name, body)
    return path
