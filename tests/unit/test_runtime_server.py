"""The runtime server's routes and refusals, driven by boto3's ``sagemaker-runtime`` client and raw sockets.

The invoker is a stand-in that records what reached it (the hosting path
behind it is tested on a real node in ``tests/integration/test_hosting*.py``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from containers.shared.http_server import Request, Response
from services.api.runtime_server import MAX_PAYLOAD, RuntimeServer

ACCOUNT = "123456789012"


class RecordingInvoker:
    """Knows ``known`` (answers the body reversed and records each request) and ``slow`` (answers in 1 s)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Request]] = []

    async def __call__(self, name: str, request: Request) -> Response | None:
        if name == "slow":
            await asyncio.sleep(1.0)
            return Response(200, b"late", "text/csv")
        if name != "known":
            return None
        self.seen.append((name, request))
        return Response(200, request.body[::-1], "text/csv", {"x-Amzn-Invoked-Production-Variant": "AllTraffic"})


@pytest.fixture
async def runtime() -> AsyncIterator[tuple[RuntimeServer, int, RecordingInvoker]]:
    invoker = RecordingInvoker()
    server = RuntimeServer("us-east-1", ACCOUNT, invoker, lambda name: {"shadow": {"Requests": 3, "name": name}})
    port = await server.start("127.0.0.1", 0)
    yield server, port, invoker
    await server.close(grace=1)


def _client(port: int) -> Any:
    return boto3.client("sagemaker-runtime", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"max_attempts": 1}))


async def _exchange(port: int, wire: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(wire)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def test_boto3_invocations_reach_the_invoker_with_their_headers(runtime: Any) -> None:
    _, port, invoker = runtime
    rt = _client(port)
    resp = await asyncio.to_thread(rt.invoke_endpoint, EndpointName="known", Body=b"1,2,3", ContentType="text/csv",
                                   Accept="text/csv", CustomAttributes="trace=7", TargetVariant="B")
    assert resp["Body"].read() == b"3,2,1" and resp["ContentType"] == "text/csv"
    assert resp["InvokedProductionVariant"] == "AllTraffic"
    [(name, request)] = invoker.seen
    assert name == "known" and request.body == b"1,2,3"
    h = request.headers
    assert (h["content-type"], h["accept"]) == ("text/csv", "text/csv")
    assert h["x-amzn-sagemaker-custom-attributes"] == "trace=7" and h["x-amzn-sagemaker-target-variant"] == "B"


async def test_an_unknown_endpoint_is_a_validation_error(runtime: Any) -> None:
    _, port, _ = runtime
    with pytest.raises(ClientError) as err:
        await asyncio.to_thread(_client(port).invoke_endpoint, EndpointName="nope", Body=b"1", ContentType="text/csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["Error"]["Message"] == f"Endpoint nope of account {ACCOUNT} not found."
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


async def test_a_payload_over_6_mb_is_refused_and_the_connection_serves_on(runtime: Any) -> None:
    _, port, invoker = runtime
    rt = _client(port)
    with pytest.raises(ClientError) as err:
        await asyncio.to_thread(rt.invoke_endpoint, EndpointName="known", Body=b"1" * (MAX_PAYLOAD + 1),
                                ContentType="text/csv")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "maximum allowed for InvokeEndpoint" in err.value.response["Error"]["Message"]
    assert not invoker.seen  # refused before routing
    resp = await asyncio.to_thread(rt.invoke_endpoint, EndpointName="known", Body=b"ab", ContentType="text/csv")
    assert resp["Body"].read() == b"ba"

    # On one connection: the refused body is skipped, the request pipelined behind it is answered.
    big = b"x" * (MAX_PAYLOAD + 10)
    wire = (b"POST /endpoints/known/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big) + big
            + b"POST /endpoints/known/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n"
              b"\r\nxyz")
    data = await _exchange(port, wire)
    assert data.startswith(b"HTTP/1.1 413 ") and b"x-amzn-ErrorType: ValidationError" in data
    assert data.count(b"HTTP/1.1 200 OK") == 1 and data.endswith(b"\r\n\r\nzyx")


async def test_refusals_that_cannot_skip_the_body_close_the_connection(runtime: Any) -> None:
    _, port, invoker = runtime
    # Told no before sending (Expect: 100-continue), the client sends no body: nothing to skip.
    data = await _exchange(port, b"POST /endpoints/known/invocations HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                 b"Content-Length: %d\r\n\r\n" % (MAX_PAYLOAD + 1))
    assert data.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in data
    # A chunked body is refused as soon as its chunks pass the limit.
    chunk = b"y" * (1024 * 1024)
    wire = b"POST /endpoints/known/invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    wire += b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(7))
    data = await _exchange(port, wire)
    assert data.startswith(b"HTTP/1.1 413 ") and json.loads(data.split(b"\r\n\r\n", 1)[1])["message"]
    assert not invoker.seen


async def test_other_routes_ping_shadow_report_and_unknown_paths(runtime: Any) -> None:
    _, port, invoker = runtime
    data = await _exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK") and json.loads(data.split(b"\r\n\r\n", 1)[1]) == {"status": "ok"}
    data = await _exchange(port, b"GET /headwater/endpoints/ep-1/shadow-agreement HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n")
    assert json.loads(data.split(b"\r\n\r\n", 1)[1]) == {
        "EndpointName": "ep-1", "ShadowVariants": {"shadow": {"Requests": 3, "name": "ep-1"}}}
    data = await _exchange(port, b"GET /endpoints/known/invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 405 ") and not invoker.seen
    data = await _exchange(port, b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close"
                                 b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 404 ") and b"x-amzn-ErrorType: UnknownOperationException" in data
    # A percent-encoded name is the endpoint's own name.
    data = await _exchange(port, b"POST /endpoints/%6Bnown/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                 b"Connection: close\r\n\r\nhi")
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"ih")


async def test_idle_connections_are_closed_and_busy_ones_are_not() -> None:
    server = RuntimeServer("us-east-1", ACCOUNT, RecordingInvoker(), idle_timeout=0.4)
    port = await server.start("127.0.0.1", 0)
    try:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /endpoints/known/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
        started = loop.time()
        answer = await asyncio.wait_for(reader.read(), 5)  # answered, then closed once idle
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ba")
        assert loop.time() - started >= 0.4
        writer.close()
        # A request still being answered (1 s, past the timeout) keeps its connection.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /endpoints/slow/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK") and await reader.readexactly(4) == b"late"
        writer.close()
    finally:
        await server.close(grace=1)
