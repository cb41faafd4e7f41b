"""A function error, as the Lambda Invoke API reports it: the user's code only.

AWS Lambda answers an invocation whose function raised with ``errorMessage``,
``errorType`` and a ``stackTrace`` of the function's own frames; the runtime
that called it stays out. Headwater's frames (the Invoke route, the handler
runtime, its services) must not reach the caller either.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel

from handlers.envelopes import parse_body
from handlers.lambda_api import make_lambda_app
from handlers.registry import REGISTRY, HandlerSpec, OnEvent

FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line \d+, in (?P<name>\S+)\n')


class Ping(BaseModel):
    """The test functions' event."""

    name: str


def _check(name: str) -> None:
    raise ValueError(f"no such thing: {name}")


async def raises_in_a_helper(event: Ping, deps: Any) -> None:
    """A user's function whose helper raises."""
    _check(event.name)


async def raises_in_headwater(event: Ping, deps: Any) -> None:
    """A user's function that hands Headwater something it refuses."""
    parse_body(REGISTRY["test-raises-in-helper"], "this is not json")


FUNCTIONS = {"test-raises-in-helper": raises_in_a_helper, "test-raises-in-headwater": raises_in_headwater}


@pytest.fixture
async def lam(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    """The Invoke API, on loopback, with the test functions registered for the test only."""
    for name, func in FUNCTIONS.items():
        spec = HandlerSpec(name=name, func=func, trigger=OnEvent(("t",), event_model=Ping), module=__name__)
        monkeypatch.setitem(REGISTRY, name, spec)
    deps: Any = None  # the functions use none
    queues: Any = None  # nor do these tests queue an Event invocation
    app = make_lambda_app(deps, "arn:aws:lambda:us-east-1:123456789012:function", queues)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def invoke(lam: TestClient, name: str, payload: Any = None) -> dict[str, Any]:
    resp = await lam.post(f"/2015-03-31/functions/{name}/invocations",
                          json={"name": "widget"} if payload is None else payload)
    assert (resp.status, resp.headers.get("X-Amz-Function-Error")) == (200, "Unhandled")
    return await resp.json()


def frames(stack: list[str]) -> list[tuple[str, str]]:
    """(file, function) of each entry; every entry must be one frame as Lambda formats it."""
    out = []
    for entry in stack:
        m = FRAME.match(entry)
        assert m is not None, f"not a frame: {entry!r}"
        out.append((m["file"], m["name"]))
    return out


async def test_the_stack_trace_is_the_users_frames_only(lam: TestClient) -> None:
    body = await invoke(lam, "test-raises-in-helper")
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "no such thing: widget")
    assert not [e for e in body["stackTrace"] if "/handlers/" in e or "/services/" in e or "asyncio" in e]
    assert frames(body["stackTrace"]) == [(__file__, "raises_in_a_helper"), (__file__, "_check")]


async def test_headwater_frames_below_the_users_are_left_out(lam: TestClient) -> None:
    body = await invoke(lam, "test-raises-in-headwater")
    assert body["errorType"] == "MalformedEvent"
    assert not [e for e in body["stackTrace"] if "/handlers/" in e or "/services/" in e]
    assert frames(body["stackTrace"]) == [(__file__, "raises_in_headwater")]


async def test_an_event_refused_before_the_function_runs_has_no_frames(lam: TestClient) -> None:
    body = await invoke(lam, "test-raises-in-helper", {"no-name": 1})
    assert body["errorType"] == "MalformedEvent" and "Ping" in body["errorMessage"]
    assert body["stackTrace"] == []
