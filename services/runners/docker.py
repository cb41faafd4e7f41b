"""The ``docker`` runner: the same contract, in a real container engine.

Driven through the Docker API with the ``docker`` SDK (Docker itself, or
podman's compatible service). The job tree is bind-mounted at ``/opt/ml``.
Blocking SDK calls run in threads so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from services.exceptions import PlatformError
from services.runners.base import Runner, RunningContainer, RunSpec

# Engines in unprivileged sandboxes refuse to raise rlimits: ask for low, explicit ones.
_ULIMITS = (("nofile", 1024, 4096), ("nproc", 1024, 4096))


class DockerContainer(RunningContainer):
    """A running engine container."""

    def __init__(self, container: Any, stop_grace: int) -> None:
        self.container = container
        self.stop_grace = stop_grace

    @property
    def ident(self) -> str:
        return f"container {self.container.short_id}"

    async def lines(self) -> AsyncIterator[str]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            buf = b""
            for chunk in self.container.logs(stream=True, follow=True, stdout=True, stderr=True):
                buf += chunk
                *done, buf = buf.split(b"\n")
                for line in done:
                    loop.call_soon_threadsafe(queue.put_nowait, line)
            if buf:
                loop.call_soon_threadsafe(queue.put_nowait, buf)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        task = loop.run_in_executor(None, pump)
        while (line := await queue.get()) is not None:
            yield line.decode("utf-8", errors="replace").rstrip("\r")
        await task

    async def wait(self) -> int:
        result = await asyncio.to_thread(self.container.wait)
        code = int(result.get("StatusCode", -1))
        await asyncio.to_thread(self.container.remove, force=True)
        return code

    async def terminate(self) -> None:
        await asyncio.to_thread(self.container.kill, signal="SIGTERM")

    async def kill(self) -> None:
        await asyncio.to_thread(self.container.kill, signal="SIGKILL")


class DockerRunner(Runner):
    """Runs containers through a Docker API endpoint (``DOCKER_HOST``)."""

    def __init__(self, base_url: str | None = None, stop_grace: int = 10) -> None:
        self.base_url = base_url
        self.stop_grace = stop_grace

    def _client(self) -> Any:
        import docker  # imported lazily: the process runner needs no engine

        return docker.DockerClient(base_url=self.base_url) if self.base_url else docker.from_env()

    async def start(self, spec: RunSpec) -> RunningContainer:
        from docker.types import Ulimit

        def run() -> Any:
            client = self._client()
            return client.containers.run(
                spec.image.image, spec.command, name=spec.name, detach=True,
                environment={**spec.env, "SAGEMAKER_BASE_DIR": self.container_base},
                volumes={str(spec.ml_root.resolve()): {"bind": self.container_base, "mode": "rw"}},
                network_mode="host",
                ulimits=[Ulimit(name=n, soft=s, hard=h) for n, s, h in _ULIMITS],
            )

        try:
            container = await asyncio.to_thread(run)
        except Exception as err:  # noqa: BLE001 - the SDK raises many types; all mean "did not start"
            raise PlatformError(f"could not start {spec.image.image}: {err}") from err
        return DockerContainer(container, self.stop_grace)
