"""An endpoint instance whose container could not be reached once is not lost for good.

A request that meets a connection error is tried once more on a new
connection; an instance that still cannot be reached leaves the rotation
and is pinged until its container answers again.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from services.inference.instance import Instance, InstanceUnavailable


async def _ping(request: web.Request) -> web.Response:
    return web.Response(text="")


async def _invocations(request: web.Request) -> web.Response:
    return web.Response(text="0.5", content_type="text/csv")


class Container:
    """An inference container on a loopback port that can go away and come back."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.runner: web.AppRunner | None = None

    async def up(self) -> None:
        app = web.Application()
        app.router.add_get("/ping", _ping)
        app.router.add_post("/invocations", _invocations)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def down(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


class Running:
    """The running container as the instance sees it (the server above plays its part)."""

    async def terminate(self) -> None:
        return None

    async def kill(self) -> None:
        return None

    async def wait(self) -> int:
        return 0


@pytest.fixture
async def served(tmp_path: Path) -> Any:
    container = Container()
    await container.up()
    session = aiohttp.ClientSession()
    instance = Instance("i-1", tmp_path, [], None, None, "g", "s")  # type: ignore[arg-type]
    instance.ports = [container.port]
    instance._pumps = [asyncio.create_task(asyncio.Event().wait())]  # its container runs on
    instance.running = [Running()]  # type: ignore[list-item]
    instance.session = session
    instance.healthy = True
    yield instance, container
    instance._pumps[0].cancel()  # the container "exits" as the instance stops it
    await instance.stop(0)
    await session.close()
    if container.runner is not None:
        await container.runner.cleanup()


async def test_a_request_that_meets_a_dead_connection_is_tried_once_more(served: Any) -> None:
    instance, _ = served
    post = instance._http.post
    calls = 0

    async def stale_first(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # a pooled keep-alive connection the container had closed
            raise ConnectionError("connection reset by peer")
        return await post(*args, **kwargs)

    instance._http.post = stale_first
    answer = await instance.invoke(None, b"1,2", "text/csv", None, None, 5)
    assert (answer.status, answer.body) == (200, b"0.5") and instance.healthy


async def test_an_unreachable_instance_returns_once_its_container_answers(served: Any) -> None:
    instance, container = served
    await container.down()
    with pytest.raises(InstanceUnavailable):
        await instance.invoke(None, b"1,2", "text/csv", None, None, 5)
    assert not instance.healthy  # out of the rotation while it cannot be reached
    await container.up()
    await asyncio.wait_for(_until(lambda: instance.healthy), timeout=30)
    answer = await instance.invoke(None, b"1,2", "text/csv", None, None, 5)
    assert answer.status == 200


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.05)
