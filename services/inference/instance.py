"""One instance of a production variant: its inference container(s), started by a runner.

An instance is a job-like ``/opt/ml`` tree with the model extracted into
``model/``, and one ``serve`` process per container of the model (a serial
inference pipeline has several), each on a free loopback port given as
``SAGEMAKER_BIND_TO_PORT``. It counts healthy once every container answers
``GET /ping``; it counts its in-flight requests so an old fleet can drain
before it is stopped. Container output goes to CloudWatch Logs under
``/aws/sagemaker/Endpoints/<endpoint>``, stream ``<variant>/<instance>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from services.aws.logs import LogsAdapter
from services.core.exceptions import JobFailed
from services.execution.log_shipper import LogShipper
from services.inference.instance_http import ContainerClient, RawAnswer
from services.inference.model_code import runs_user_code
from services.runners.base import Runner, RunningContainer, RunSpec
from services.runners.images import ContainerImage

log = logging.getLogger(__name__)

# How often an instance out of rotation (a container that could not be reached) is pinged.
_RECOVERY_PING_SECONDS = 1.0

ENDPOINT_LOG_GROUP = "/aws/sagemaker/Endpoints"
PORT_ENV = "SAGEMAKER_BIND_TO_PORT"


def free_port() -> int:
    """A loopback port nothing listens on now (the container binds it moments later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Answer:
    """What the last container (or the first failing one) answered."""

    status: int
    body: bytes
    content_type: str
    custom_attributes: str | None = None


class InstanceUnavailable(Exception):
    """The instance could not be reached (its container exited or refused the connection)."""


@dataclass(frozen=True)
class ContainerSpec:
    """One container of the model, as an instance runs it."""

    hostname: str
    image: ContainerImage
    env: dict[str, str]
    root: Path  # this container's /opt/ml, its model extracted into model/


class Instance:
    """A running instance; :meth:`start` it, route to it, :meth:`drain` and :meth:`stop` it."""

    def __init__(self, ident: str, root: Path, containers: list[ContainerSpec], runner: Runner,
                 logs: LogsAdapter, log_group: str, log_stream: str,
                 on_exit: Callable[[Instance], None] | None = None) -> None:
        self.ident = ident
        self.root = root
        self.log_group = log_group
        self.specs = containers
        self.runner = runner
        self.logs = logs
        self.log_stream = log_stream
        self.on_exit = on_exit
        self.ports: list[int] = []
        self.running: list[RunningContainer] = []
        self.in_flight = 0
        self.healthy = False
        self.stopping = False
        self._shipper: LogShipper | None = None
        self._pumps: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._http = ContainerClient()  # the invocation hop's keep-alive connections
        self.session: aiohttp.ClientSession | None = None  # for pings
        self._recovery: asyncio.Task[None] | None = None

    async def start(self, session: aiohttp.ClientSession, timeout: float) -> None:
        """Start every container and wait until each answers ``/ping``; :class:`JobFailed` says why not."""
        self.session = session
        self._shipper = LogShipper(self.logs, self.log_group, self.log_stream, self.root / "serve.log")
        await self._shipper.__aenter__()
        for n, spec in enumerate(self.specs):
            port = free_port()
            env = {**spec.env, PORT_ENV: str(port)}
            # A user's inference code (script mode, ModelBuilder's packaged handler) may hardcode /opt/ml.
            run = RunSpec(name=f"{self.ident}-{n}", image=spec.image, command=["serve"], ml_root=spec.root, env=env,
                          literal_paths=runs_user_code(spec.env))
            try:
                container = await self.runner.start(run)
            except Exception as err:  # noqa: BLE001 - reported as the endpoint's FailureReason
                raise JobFailed(f"Could not start the container for {spec.image.name}: {err}") from err
            self.ports.append(port)
            self.running.append(container)
            self._shipper.add(f"Headwater: started {spec.image.module} serve ({container.ident}) on port {port}")
            self._pumps.append(asyncio.create_task(self._pump(container)))
        deadline = time.monotonic() + timeout
        for port, container in zip(self.ports, self.running):
            await self._wait_ping(session, port, container, deadline, timeout)
        self.healthy = True

    async def _wait_ping(self, session: aiohttp.ClientSession, port: int, container: RunningContainer,
                         deadline: float, timeout: float) -> None:
        while time.monotonic() < deadline:
            if self._exited(container):
                raise JobFailed(f"The inference container exited before passing the health check "
                                f"(ping). Last log lines: {self._tail()}")
            if await _pings(session, port):
                return
            await asyncio.sleep(0.1)
        raise JobFailed(f"The primary container for production variant did not pass the ping health check "
                        f"within {timeout:.0f} seconds. Last log lines: {self._tail()}")

    def _exited(self, container: RunningContainer) -> bool:
        index = self.running.index(container)
        return index < len(self._pumps) and self._pumps[index].done()

    def _tail(self) -> str:
        lines = self._shipper.tail if self._shipper else []
        return " | ".join(line.strip() for line in lines[-5:] if line.strip()) or "(none)"

    async def _pump(self, container: RunningContainer) -> None:
        async for line in container.lines():
            if self._shipper is not None:
                self._shipper.add(line)
        if not self.stopping:
            log.warning("instance %s: a container exited unexpectedly", self.ident)
            self.healthy = False
            if self.on_exit is not None:
                self.on_exit(self)

    def note(self, line: str) -> None:
        """Add a line of the platform's own to this instance's log stream."""
        if self._shipper is not None:
            self._shipper.add(line)

    def acquire(self) -> None:
        """Count a request routed here (call before the first ``await``)."""
        self.in_flight += 1
        self._idle.clear()

    def release(self) -> None:
        """A routed request is answered."""
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def invoke(self, session: aiohttp.ClientSession, body: bytes, content_type: str | None,
                     accept: str | None, custom: str | None, timeout: float) -> Answer:
        """Pass the request through the container pipeline; the last answer (or first error) returns.

        Requests go over the instance's own keep-alive pool (:mod:`services.inference.instance_http`),
        not ``session``: this hop is on every invocation's path.
        """
        ctype = content_type or "application/octet-stream"
        answer = Answer(200, body, ctype)
        last = len(self.ports) - 1
        for n, port in enumerate(self.ports):
            headers = {"Content-Type": ctype}
            if accept and n == last:
                headers["Accept"] = accept
            if custom:
                headers["X-Amzn-SageMaker-Custom-Attributes"] = custom
            raw = await self._post(port, headers, body, timeout)
            ctype = raw.headers.get("content-type", ctype)
            answer = Answer(raw.status, raw.body, ctype, raw.headers.get("x-amzn-sagemaker-custom-attributes"))
            if answer.status >= 400:
                return answer
            body = raw.body
        return answer

    async def _post(self, port: int, headers: dict[str, str], body: bytes, timeout: float) -> RawAnswer:
        try:
            return await self._http.post(port, "/invocations", headers, body, timeout)
        except ConnectionError:
            pass  # a keep-alive connection the container had closed, or a moment's refusal: once more
        try:
            return await self._http.post(port, "/invocations", headers, body, timeout, fresh=True)
        except ConnectionError as err:
            self.unreachable(str(err))
            raise InstanceUnavailable(f"instance {self.ident}: {err}") from err

    def unreachable(self, reason: str) -> None:
        """A container could not be reached: route nothing here until every container answers ``/ping``."""
        if self.stopping or not self.healthy:
            return
        self.healthy = False
        self.note(f"Headwater: a container could not be reached ({reason}); out of rotation until it answers")
        self._recovery = asyncio.create_task(self._recover(), name=f"recover-{self.ident}")

    async def _recover(self) -> None:
        # A container that exited is replaced instead (on_exit); one that hangs stays out of rotation.
        while not self.stopping and not any(self._exited(c) for c in self.running):
            if await self._answers():
                self.healthy = True
                self.note("Headwater: every container answers /ping again; back in rotation")
                return
            await asyncio.sleep(_RECOVERY_PING_SECONDS)

    async def _answers(self) -> bool:
        if self.session is None:
            return False
        for port in self.ports:
            if not await _pings(self.session, port):
                return False
        return True

    async def drain(self, timeout: float) -> None:
        """Wait until no routed request is in flight (at most ``timeout`` s)."""
        if self.in_flight:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)

    async def stop(self, grace: float) -> None:
        """SIGTERM every container, SIGKILL after ``grace``; close the log stream."""
        self.stopping = True
        self.healthy = False
        if self._recovery is not None:
            self._recovery.cancel()
        for container in self.running:
            await container.terminate()
        for container in self.running:
            try:
                await asyncio.wait_for(container.wait(), grace)
            except asyncio.TimeoutError:
                await container.kill()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(container.wait(), 10)
        self._http.close()
        for pump in self._pumps:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(pump, 5)
        if self._shipper is not None:
            await self._shipper.__aexit__(None, None, None)
            self._shipper = None


async def _pings(session: aiohttp.ClientSession, port: int) -> bool:
    """Whether the container on ``port`` answers ``GET /ping`` with 200 (within 2 s)."""
    try:
        async with session.get(f"http://127.0.0.1:{port}/ping", timeout=aiohttp.ClientTimeout(total=2)) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False
