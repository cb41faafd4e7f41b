"""The ``docker`` runner: the same contract, in a real container engine.

Driven through the Docker API with the ``docker`` SDK: Docker itself, or
podman's compatible service (``DOCKER_HOST=unix://...``). The job tree is
bind-mounted at ``/opt/ml`` (recursively, as Docker and podman bind by
default, so a FastFile channel's FUSE mount inside the tree shows in the
container; it exists before the container starts, so no propagation option
is needed); the container runs ``<image> train`` (or the job's own
entrypoint) on the host network (on none with ``EnableNetworkIsolation``),
with low explicit ulimits (engines
in unprivileged sandboxes refuse to raise rlimits) and an init process as
PID 1, so SIGTERM reaches the algorithm as it does a process-runner child (a
bare PID 1 ignores signals it has no handler for). Blocking SDK calls run in
threads so the event loop keeps serving, never on the loop's default
executor: following a container's log and waiting for its exit each hold a
thread of their own for the container's life, and short calls (start, kill,
remove) share a small pool of the runner's.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from services.core.exceptions import PlatformError
from services.runners.base import Runner, RunningContainer, RunSpec
from services.runners.images import CONTAINERS_DIR, ContainerImage

_ULIMITS = (("nofile", 1024, 4096), ("nproc", 1024, 4096))
# After the container exits, how long its log stream may take to drain before removal.
_LOG_DRAIN_SECONDS = 10.0
# Short engine calls (run, kill, remove) of every container of the runner.
_CALLS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="docker-call")

T = TypeVar("T")


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
    """A short blocking engine call, on the runner's own pool."""
    return asyncio.get_running_loop().run_in_executor(_CALLS, lambda: fn(*args, **kwargs))


def _held(fn: Callable[[], T], name: str) -> asyncio.Future[T]:
    """A call that blocks for a container's life, on a thread of its own (one per such call, no pool)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result: T | None = fn()
            error: BaseException | None = None
        except BaseException as err:  # noqa: BLE001 - handed to the awaiting coroutine
            result, error = None, err
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits it any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class DockerContainer(RunningContainer):
    """A running engine container; removed once it has exited and its log is read."""

    def __init__(self, container: Any) -> None:
        self.container = container
        self._signalled: int | None = None
        self._logs_done = asyncio.Event()
        self._streaming = False

    @property
    def ident(self) -> str:
        return f"container {self.container.short_id}"

    async def lines(self) -> AsyncIterator[str]:
        self._streaming = True
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            buf = b""
            try:
                for chunk in self.container.logs(stream=True, follow=True, stdout=True, stderr=True):
                    buf += chunk
                    *done, buf = buf.split(b"\n")
                    for line in done:
                        loop.call_soon_threadsafe(queue.put_nowait, line)
            finally:
                if buf:
                    loop.call_soon_threadsafe(queue.put_nowait, buf)
                loop.call_soon_threadsafe(queue.put_nowait, None)

        task = _held(pump, f"docker-logs-{self.container.short_id}")
        try:
            while (line := await queue.get()) is not None:
                yield line.decode("utf-8", errors="replace").rstrip("\r")
            await task
        finally:
            self._logs_done.set()

    async def wait(self) -> int:
        result = await _held(lambda: self.container.wait(timeout=None), f"docker-wait-{self.container.short_id}")
        code = int(result.get("StatusCode", -1))
        if self._streaming:  # removing the container ends its log: let the reader finish first
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._logs_done.wait(), _LOG_DRAIN_SECONDS)
        with contextlib.suppress(Exception):  # already gone is fine
            await _call(self.container.remove, force=True)
        # A shell's 128+N for a signal we sent reads as the process runner's -N.
        if self._signalled is not None and code == 128 + self._signalled:
            return -self._signalled
        return code

    async def _send(self, sig: signal.Signals) -> None:
        self._signalled = int(sig)
        with contextlib.suppress(Exception):  # it may have exited in between
            await _call(self.container.kill, signal=sig.name)

    async def terminate(self) -> None:
        await self._send(signal.SIGTERM)

    async def kill(self) -> None:
        await self._send(signal.SIGKILL)


class DockerRunner(Runner):
    """Runs containers through a Docker API endpoint (``base_url``, else ``DOCKER_HOST``)."""

    def __init__(self, base_url: str | None = None, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.base_url = base_url
        self._docker: Any = None

    def _client(self) -> Any:
        import docker  # imported lazily: the process runner needs no engine

        if self._docker is None:
            self._docker = docker.DockerClient(base_url=self.base_url) if self.base_url else docker.from_env()
        return self._docker

    def _ensure_image(self, client: Any, image: ContainerImage) -> None:
        """Use the image if the engine has it, else build it from its Dockerfile (repository root context)."""
        import docker.errors

        try:
            client.images.get(image.image)
            return
        except docker.errors.ImageNotFound:
            pass
        if image.python:  # a user's image: Headwater has nothing to build it from
            raise PlatformError(f"image {image.image} is not in the engine (its interpreter in the "
                                "image_interpreters setting stands in for it under the process runner only)")
        dockerfile = image.folder / "Dockerfile"
        if not dockerfile.is_file():
            raise PlatformError(f"image {image.image} is not in the engine and {dockerfile} does not exist")
        try:
            client.images.build(path=str(CONTAINERS_DIR.parent), dockerfile=str(dockerfile.relative_to(
                CONTAINERS_DIR.parent)), tag=image.image, rm=True)
        except Exception as err:  # noqa: BLE001 - BuildError, APIError: the build did not work
            raise PlatformError(f"image {image.image} is not in the engine and building it from "
                                f"{dockerfile} failed: {err}") from err

    async def start(self, spec: RunSpec) -> RunningContainer:
        from docker.types import Ulimit

        def run() -> Any:
            import docker.errors

            client = self._client()
            self._ensure_image(client, spec.image)
            # A restarted attempt reuses the run name: clear what a lost worker left behind.
            with contextlib.suppress(docker.errors.NotFound):
                client.containers.get(spec.name).remove(force=True)
            extra: dict[str, Any] = {}
            if spec.entrypoint:
                extra["entrypoint"] = spec.entrypoint
            return client.containers.run(
                spec.image.image, spec.command, name=spec.name, detach=True, init=True,
                # The contract's variables only: the engine never forwards the node's environment.
                environment=self.container_env(spec, self.container_base),
                volumes={str(spec.ml_root.resolve()): {"bind": self.container_base, "mode": "rw"}},
                # The host's network, where hosts and servers are on loopback; none at all when isolated.
                network_mode="none" if spec.network_isolated else "host",
                ulimits=[Ulimit(name=n, soft=s, hard=h) for n, s, h in _ULIMITS], **extra,
            )

        try:
            container = await _call(run)
        except PlatformError:
            raise
        except Exception as err:  # noqa: BLE001 - the SDK raises many types; all mean "did not start"
            raise PlatformError(f"could not start {spec.image.image}: {err}") from err
        return DockerContainer(container)
