"""One execution environment: a process that imports the handler once and serves one invocation at a time.

The process runs the runtime client (``containers/lambda_runtime``) with
Lambda's environment variables and a Runtime API port of its own. Init is
timed from the spawn to the first ``/invocation/next`` (``Init Duration``).
Its output (stdout and stderr, in order) is one log stream of
``/aws/lambda/<name>``, with the platform's ``START`` / ``END`` / ``REPORT``
lines around each invocation; the runtime client writes a fence line after
each invocation's output so those lines are complete before ``END``.

Limits are enforced as Lambda enforces them: past its timeout an invocation's
environment is killed (``Task timed out after N.NN seconds``); a resident
set over ``MemorySize`` (sampled while an invocation runs), or an allocation
the data-segment backstop (``RLIMIT_DATA``) refuses, kills it too
(``Runtime.OutOfMemory``).
The process is a session of its own, so a kill ends what it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import resource
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from services.aws.logs import LogsAdapter
from services.execution.log_shipper import LogShipper
from services.functions.runtime_api import RuntimeApiServer
from services.runners.images import CONTAINERS_DIR

log = logging.getLogger(__name__)

BOOTSTRAP = CONTAINERS_DIR / "lambda_runtime" / "bootstrap.py"
#: Lambda's bound on init (importing the handler module) of an on-demand environment.
INIT_LIMIT_SECONDS = 10.0
# How often a running invocation's resident memory is sampled.
_MEMORY_SAMPLE_SECONDS = 0.02
# The data-segment backstop (RLIMIT_DATA): allocations past this fail at once (the sampler may be too slow for a
# single huge one). Generous, because thread stacks count in it and not in the resident set.
_DATA_LIMIT_FACTOR = 2
_DATA_LIMIT_SLACK_MB = 1024
# How long to wait for an invocation's output fence once its result is in.
_FENCE_WAIT_SECONDS = 2.0
_SIGNAL_WORDS = {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted",
                 signal.SIGTERM: "terminated", signal.SIGBUS: "bus error"}


class EnvironmentGone(Exception):
    """The environment was stopped while its runtime waited for work."""


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment runs: one version of one function, at one revision."""

    function_name: str
    version: str
    revision_id: str
    code_sha256: str
    code_dir: Path
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: int
    log_group: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Environments with the same key are interchangeable."""
        return (self.function_name, self.version, self.revision_id, self.code_sha256)


@dataclass
class Invocation:
    """One invocation handed to an environment."""

    request_id: str
    payload: bytes
    invoked_function_arn: str
    client_context: str | None = None
    deadline_ms: int = 0


@dataclass
class InvocationRecord:
    """How an invocation ended."""

    request_id: str
    payload: bytes  # the function's response, or the error document
    error_type: str | None  # set when the function failed (FunctionError: Unhandled)
    duration_ms: float
    init_duration_ms: float | None
    max_memory_mb: int
    log_lines: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when the invocation is a function error."""
        return self.error_type is not None


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def _proc_kb(pid: int, field_name: str) -> int | None:
    """A ``/proc/<pid>/status`` memory field in kB, or ``None`` (no such process, or no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(field_name.encode()):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _timestamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class ExecutionEnvironment:
    """A process serving invocations of one :class:`EnvironmentSpec` over the Runtime API."""

    def __init__(self, spec: EnvironmentSpec, api: RuntimeApiServer, logs: LogsAdapter, log_dir: Path,
                 python: str = sys.executable) -> None:
        self.spec = spec
        self.api = api
        self.logs = logs
        self.python = python
        self.id = uuid.uuid4().hex
        self.state = "new"  # new -> initializing -> idle <-> busy -> dead
        self.stream = f"{datetime.now(timezone.utc):%Y/%m/%d}/[{spec.version}]{self.id}"
        self.local_log = log_dir / spec.function_name / f"{self.stream.replace('/', '-')}.log"
        self.last_used = time.monotonic()
        self.retired = False  # stop once the current invocation ends
        self.init_duration_ms: float | None = None
        self.invocations = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.address = ""
        self._fence = uuid.uuid4().hex
        self._inbox: asyncio.Queue[Invocation] = asyncio.Queue(maxsize=1)
        self._current: Invocation | None = None
        self._outcome: asyncio.Future[tuple[bytes, str | None, bool]] | None = None
        loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[bytes | None] = loop.create_future()
        self._exited: asyncio.Future[int] = loop.create_future()
        self._output_done = asyncio.Event()
        self._stopping = asyncio.Event()
        self._fences: set[str] = set()
        self._fenced = asyncio.Event()
        self._lines: list[str] = []
        self._oom = False
        self._peak_kb = 0
        self._started = 0.0
        self._shipper: LogShipper | None = None
        self._shipping = False  # the log stream is open
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self, variables: dict[str, str]) -> None:
        """Spawn the process with ``variables`` (Lambda's, the function's, credentials) and begin init."""
        self.state = "initializing"
        self.address = await self.api.open(self)
        env = {**variables, "AWS_LAMBDA_RUNTIME_API": self.address, "AWS_LAMBDA_LOG_STREAM_NAME": self.stream,
               "_LAMBDA_LOG_FENCE": self._fence}
        self._shipper = LogShipper(self.logs, self.spec.log_group, self.stream, self.local_log)
        self._started = time.perf_counter()
        self.proc = await asyncio.create_subprocess_exec(
            self.python, str(BOOTSTRAP), cwd=str(self.spec.code_dir), env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            limit=1024 * 1024)
        limit = max(self.spec.memory_mb * _DATA_LIMIT_FACTOR, self.spec.memory_mb + _DATA_LIMIT_SLACK_MB) * 1024 ** 2
        with contextlib.suppress(OSError, ValueError, AttributeError):  # a platform without prlimit: no backstop
            resource.prlimit(self.proc.pid, resource.RLIMIT_DATA, (limit, limit))
        self._tasks.append(asyncio.create_task(self._wait_exit(), name=f"env-exit-{self.id[:8]}"))
        try:
            await self._shipper.__aenter__()
            self._shipping = True
        except Exception:  # noqa: BLE001 - logs must never stop a function: the local file still has them
            log.exception("function %s: could not open log stream %s", self.spec.function_name, self.stream)
        self._tasks.append(asyncio.create_task(self._read_output(), name=f"env-output-{self.id[:8]}"))
        self._log(f"INIT_START Runtime Version: {self.spec.runtime.replace('python', 'python:')}")

    async def wait_ready(self) -> bytes | None:
        """Wait for init to end: ``None`` once the runtime polls for work, else the error document."""
        done, _ = await asyncio.wait({self._ready, self._exited}, timeout=INIT_LIMIT_SECONDS,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._ready in done:
            error = self._ready.result()
            if error is None:
                self.state = "idle"
                return None
            await self._end_output()
            self._log(f"INIT_REPORT Init Duration: {self._elapsed_ms():.2f} ms\tPhase: init\tStatus: error\t"
                      f"Error Type: {_error_type(error)}")
            return error
        if self._exited in done:
            await self._end_output()
            return self._exit_error("")
        self._kill()
        self._log(f"INIT_REPORT Init Duration: {self._elapsed_ms():.2f} ms\tPhase: init\tStatus: timeout")
        return _error("Sandbox.Timedout", f"Init timed out after {INIT_LIMIT_SECONDS:.2f} seconds")

    async def stop(self) -> None:
        """End the process and its log stream."""
        self.state = "dead"
        self._stopping.set()
        self._kill()
        if self.proc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._exited), 10)
        await self._end_output()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.api.close_port(self.address)
        if self._shipper is not None and self._shipping:
            self._shipping = False
            with contextlib.suppress(Exception):
                await self._shipper.__aexit__(None, None, None)

    @property
    def alive(self) -> bool:
        """True while the process runs and has not been killed."""
        return self.state in ("initializing", "idle", "busy") and not self._exited.done()

    # ------------------------------------------------------------------ invoking

    async def invoke(self, invocation: Invocation, init_error: bytes | None = None) -> InvocationRecord:
        """Run ``invocation`` (or report ``init_error`` for it), with ``START`` / ``END`` / ``REPORT`` lines."""
        first = self.invocations == 0
        self.invocations += 1
        if not first:
            self._lines = []  # a fresh environment's tail keeps its init output
        request_id = invocation.request_id
        self.state = "busy"
        self._log(f"START RequestId: {request_id} Version: {self.spec.version}")
        started = time.perf_counter()
        status = ""
        if init_error is not None:
            payload, error_type = init_error, _error_type(init_error)
            status = f"error\tError Type: {error_type}"
        else:
            payload, error_type, status = await self._run(invocation)
        duration = (time.perf_counter() - started) * 1000
        self._log(f"END RequestId: {request_id}")
        used = self.spec.memory_mb if self._oom else max(1, math.ceil(self._peak() / 1024))
        report = (f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: "
                  f"{max(1, math.ceil(duration))} ms\tMemory Size: {self.spec.memory_mb} MB\tMax Memory Used: "
                  f"{used} MB")
        if first and self.init_duration_ms is not None:
            report += f"\tInit Duration: {self.init_duration_ms:.2f} ms"
        if status:
            report += f"\tStatus: {status}"
        self._log(report)
        self.last_used = time.monotonic()
        if self.alive and init_error is None:
            self.state = "idle"
        return InvocationRecord(request_id, payload, error_type, duration, self.init_duration_ms if first else None,
                                used, list(self._lines))

    async def _run(self, invocation: Invocation) -> tuple[bytes, str | None, str]:
        """The response or error of a handed-out invocation, and the ``REPORT`` status ('' when it ran)."""
        loop = asyncio.get_running_loop()
        self._current = invocation
        self._outcome = loop.create_future()
        watcher = asyncio.create_task(self._watch_memory())
        timeout = self.spec.timeout_s
        try:
            self._inbox.put_nowait(invocation)
            done, _ = await asyncio.wait({self._outcome, self._exited}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self._current = None
        rid = invocation.request_id
        if self._outcome.done():
            body, error_type, failed = self._outcome.result()
            await self._wait_fence(rid)
            if failed:
                return body, error_type or _error_type(body), ""
            return body, None, ""
        if self._exited.done():
            await self._end_output()
            error = self._exit_error(rid)
            self._log(f"RequestId: {rid} Error: {json.loads(error)['errorMessage'].split('Error: ', 1)[-1]}")
            error_type = _error_type(error)
            return error, error_type, f"error\tError Type: {error_type}"
        self._kill()
        self._log(f"{_timestamp()} {rid} Task timed out after {timeout:.2f} seconds")
        await self._end_output()
        return (_error("Sandbox.Timedout", f"RequestId: {rid} Error: Task timed out after {timeout:.2f} seconds"),
                "Sandbox.Timedout", "timeout")

    def _exit_error(self, request_id: str) -> bytes:
        code = self._exited.result() if self._exited.done() else -signal.SIGKILL
        if code < 0:
            word = _SIGNAL_WORDS.get(signal.Signals(-code), signal.Signals(-code).name.lower())
            how = f"signal: {word}"
        else:
            how = f"exit status {code}"
        kind = "Runtime.OutOfMemory" if self._oom else "Runtime.ExitError"
        prefix = f"RequestId: {request_id} " if request_id else ""
        return _error(kind, f"{prefix}Error: Runtime exited with error: {how}")

    # ------------------------------------------------------------------ the Runtime API's calls

    async def next_invocation(self) -> Invocation:
        """Called by the Runtime API on ``GET /invocation/next``."""
        if not self._ready.done():
            self.init_duration_ms = self._elapsed_ms()
            self._ready.set_result(None)
        getting = asyncio.ensure_future(self._inbox.get())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not getting.done():
                getting.cancel()
        if not getting.done() or getting.cancelled():
            raise EnvironmentGone(self.id)
        invocation = getting.result()
        invocation.deadline_ms = int(time.time() * 1000) + self.spec.timeout_s * 1000
        return invocation

    def respond(self, request_id: str, body: bytes) -> bool:
        """Called by the Runtime API with an invocation's response."""
        return self._settle(request_id, (body, None, False))

    def fail(self, request_id: str, body: bytes, error_type: str | None) -> bool:
        """Called by the Runtime API with an invocation's error."""
        return self._settle(request_id, (body, _error_type(body) or error_type, True))

    def init_failed(self, body: bytes, error_type: str | None) -> None:
        """Called by the Runtime API when init failed."""
        if not self._ready.done():
            self.init_duration_ms = self._elapsed_ms()
            self._ready.set_result(body)

    def _settle(self, request_id: str, outcome: tuple[bytes, str | None, bool]) -> bool:
        if self._current is None or self._current.request_id != request_id or self._outcome is None \
                or self._outcome.done():
            return False
        self._outcome.set_result(outcome)
        return True

    # ------------------------------------------------------------------ output, memory, process

    def _log(self, line: str) -> None:
        self._lines.append(line)
        if self._shipping and self._shipper is not None:
            self._shipper.add(line)

    async def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        try:
            while True:
                try:
                    raw = await stdout.readline()
                except ValueError:  # a line over the reader's limit: take it in pieces
                    raw = await stdout.read(1024 * 1024)
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                at = line.find(self._fence)
                if at < 0:
                    self._log(line)
                    continue
                if at > 0:
                    self._log(line[:at])
                what = line[at + len(self._fence):].strip()
                if what == "OOM":
                    self._oom = True
                self._fences.add(what)
                self._fenced.set()
        finally:
            self._output_done.set()

    async def _wait_fence(self, request_id: str) -> None:
        deadline = time.monotonic() + _FENCE_WAIT_SECONDS
        while request_id not in self._fences and not self._output_done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._fenced.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._fenced.wait(), left)
        self._fences.discard(request_id)

    async def _end_output(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._output_done.wait(), _FENCE_WAIT_SECONDS)

    async def _watch_memory(self) -> None:
        if self.proc is None:
            return
        limit_kb = self.spec.memory_mb * 1024
        while True:
            await asyncio.sleep(_MEMORY_SAMPLE_SECONDS)
            rss = _proc_kb(self.proc.pid, "VmRSS:")
            if rss is None:
                return
            self._peak_kb = max(self._peak_kb, rss)
            if rss > limit_kb:
                self._oom = True
                self._kill()
                return

    def _peak(self) -> int:
        if self.proc is not None and (hwm := _proc_kb(self.proc.pid, "VmHWM:")) is not None:
            self._peak_kb = max(self._peak_kb, hwm)
        return self._peak_kb

    async def _wait_exit(self) -> None:
        assert self.proc is not None
        code = await self.proc.wait()
        if not self._exited.done():
            self._exited.set_result(code)
        if self.state != "dead":
            self.state = "dead"

    def _kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def _elapsed_ms(self) -> float:
        return (time.perf_counter() - self._started) * 1000


def _error_type(doc: bytes) -> str:
    try:
        parsed = json.loads(doc)
    except ValueError:
        return "Runtime.Unknown"
    return str(parsed.get("errorType") or "Runtime.Unknown") if isinstance(parsed, dict) else "Runtime.Unknown"
