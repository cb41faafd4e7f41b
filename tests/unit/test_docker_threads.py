"""The docker runner: its blocking calls never take the event loop's default executor, and a
container gets the contract's variables only.

With the docker SDK, following a container's log and waiting for its exit
block a thread each for the container's whole life. On the default executor
(six threads on two cores) three containers would wedge every other
``to_thread`` of the node.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services.runners.base import RunSpec
from services.runners.docker import DockerContainer, DockerRunner
from services.runners.images import ContainerImage


class BlockingContainer:
    """A docker SDK container whose log and wait block until released."""

    short_id = "abc123"

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def logs(self, **kwargs: Any) -> Any:
        self.release.wait()
        yield b"done\n"

    def wait(self, timeout: Any = None) -> dict[str, int]:
        self.release.wait()
        return {"StatusCode": 0}

    def remove(self, force: bool = False) -> None:
        return None


async def test_running_containers_leave_the_default_executor_free() -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=4))  # what a small machine gets
    release = threading.Event()
    containers = [DockerContainer(BlockingContainer(release)) for _ in range(3)]
    readers = [asyncio.create_task(_read(c)) for c in containers]
    waiters = [asyncio.create_task(c.wait()) for c in containers]
    await asyncio.sleep(0.1)
    try:
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), timeout=5) == "free"
    finally:
        release.set()
    assert await asyncio.gather(*waiters) == [0, 0, 0]
    assert await asyncio.gather(*readers) == [["done"]] * 3


async def _read(container: DockerContainer) -> list[str]:
    return [line async for line in container.lines()]


class RecordingEngine:
    """A docker SDK client that has every image and records what ``containers.run`` was given."""

    def __init__(self) -> None:
        self.run_kwargs: dict[str, Any] = {}
        self.images = SimpleNamespace(get=lambda name: object())
        self.containers = SimpleNamespace(get=self._get, run=self._run)

    def _get(self, name: str) -> Any:
        import docker.errors

        raise docker.errors.NotFound(name)

    def _run(self, image: str, command: list[str], **kwargs: Any) -> Any:
        self.run_kwargs = kwargs
        return BlockingContainer(threading.Event())


async def test_a_container_gets_the_contract_not_the_nodes_environment(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_SECRET_TEST", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANODEKEY")
    engine = RecordingEngine()
    runner = DockerRunner(env={"AWS_REGION": "eu-west-1"})
    runner._docker = engine
    spec = RunSpec(name="env", image=ContainerImage("x", "x", "x"), command=["train"], ml_root=tmp_path,
                   env={"SM_MODEL_DIR": "/opt/ml/model"})
    await runner.start(spec)
    assert engine.run_kwargs["environment"] == {"AWS_REGION": "eu-west-1", "SM_MODEL_DIR": "/opt/ml/model",
                                                "SAGEMAKER_BASE_DIR": "/opt/ml"}
