"""The docker runner's blocking calls never take the event loop's default executor.

With the docker SDK, following a container's log and waiting for its exit
block a thread each for the container's whole life. On the default executor
(six threads on two cores) three containers would wedge every other
``to_thread`` of the node.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.runners.docker import DockerContainer


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
