"""The lean HTTP server's own bounds: pipelining back-pressure, body framing, linear chunk decoding.

The routes built on it are tested with it (``test_runtime_server.py``,
``test_serving.py``, ``test_server_workers.py``); these tests drive the
server directly, over real sockets where the kernel's behaviour matters and
by feeding a connection byte strings where the exact split of the stream
into reads matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from containers.shared.http_server import HttpServer, Request, Response, _Connection

# What one connection may hold in user space (read buffer plus unsent answers) behind a client
# that pipelines requests and reads no answers; the client below sends four times this much.
BOUND = 1024 * 1024
INVOCATION = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"1" * 1000
LAST = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + b"1" * 1000


async def _until(condition: Callable[[], Any], timeout: float = 30) -> None:
    """Poll ``condition`` on the event loop (so the server keeps running) until it holds."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


async def _serve(handler: Any) -> tuple[HttpServer, int]:
    server = HttpServer(handler)
    return server, await server.start("127.0.0.1", 0)


async def _exchange(port: int, wire: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(wire)
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def _held(server: HttpServer) -> int:
    """Bytes the server holds for its connections: requests read and not yet parsed, answers not yet sent."""
    return sum(len(c.buffer) + (c.transport.get_write_buffer_size() if c.transport else 0)
               for c in server.connections)


def _stopped_reading(server: HttpServer) -> bool:
    return any(c.transport is not None and not c.transport.is_reading() for c in server.connections)


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[int, list[Request]]]:
    """A server whose handler records each request and answers its body back."""
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(200, request.body)

    server, port = await _serve(handler)
    yield port, seen
    await server.shutdown(grace=1)


@pytest.mark.parametrize("answering", ["slowly", "at once"])
async def test_a_client_that_pipelines_without_reading_answers_is_held_to_bounded_buffers(answering: str) -> None:
    release = asyncio.Event()
    answered = 0

    async def slow(request: Request) -> Response:
        nonlocal answered
        await release.wait()
        answered += 1
        return Response(200, b"ok")

    def at_once(request: Request) -> Response:
        nonlocal answered
        answered += 1
        return Response(200, b"a" * 8192)  # answers pile up unsent while the client reads none

    server, port = await _serve(slow if answering == "slowly" else at_once)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.transport.pause_reading()  # the client reads no answer until told to
        count = 4 * BOUND // len(INVOCATION)
        writer.write(INVOCATION * (count - 1) + LAST)
        # A server that stops reading has applied back-pressure; one that never does overruns the bound.
        await _until(lambda: _stopped_reading(server) or _held(server) > BOUND)
        assert _held(server) <= BOUND
        release.set()
        writer.transport.resume_reading()
        data = await asyncio.wait_for(reader.read(), 30)
        assert data.count(b"HTTP/1.1 200 OK") == count == answered  # nothing lost to the back-pressure
    finally:
        writer.transport.abort()
        await server.shutdown(grace=1)


@pytest.mark.parametrize("length", ["-5", "+5", "1_0", "5 5", "0x5", ""])
async def test_a_negative_or_malformed_content_length_is_a_400(recorded: Any, length: str) -> None:
    port, seen = recorded
    wire = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\nhello" % length.encode()
    data = await _exchange(port, wire)
    assert data.startswith(b"HTTP/1.1 400 ") and b"Content-Length" in data.split(b"\r\n\r\n", 1)[1]
    assert not seen


@pytest.mark.parametrize("size", [b"-1", b"+5", b"0x5", b"", b"5_0", b"g", b"5;" + b"x" * 5000])
async def test_a_bad_chunk_size_is_a_400(recorded: Any, size: bytes) -> None:
    port, seen = recorded
    wire = (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"%s\r\nhello\r\n0\r\n\r\n" % size)
    data = await _exchange(port, wire)
    assert data.startswith(b"HTTP/1.1 400 ") and b"chunk" in data.split(b"\r\n\r\n", 1)[1]
    assert not seen


async def test_chunk_extensions_and_trailers_are_read_past(recorded: Any) -> None:
    port, seen = recorded
    wire = (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"5 ;name=value\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: 1\r\n\r\n")
    data = await _exchange(port, wire)
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"hello, world!!!")
    assert [r.body for r in seen] == [b"hello, world!!!"]


class _ScanCountingBuffer(bytearray):
    """A connection's read buffer that counts the bytes its searches pass over."""

    scanned = 0

    def find(self, sub: Any, start: Any = None, end: Any = None) -> int:  # type: ignore[override]
        begin = start or 0
        hit = super().find(sub, begin) if end is None else super().find(sub, begin, end)
        self.scanned += (hit + len(sub) if hit >= 0 else len(self)) - begin
        return hit


class _Wire:
    """A transport that keeps what the server writes."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.reading = True

    def write(self, data: bytes) -> None:
        self.sent += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def is_reading(self) -> bool:
        return self.reading

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_write_buffer_size(self) -> int:
        return 0


async def test_a_chunked_body_of_many_small_chunks_is_decoded_in_linear_work() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(200, b"")

    conn = _Connection(HttpServer(handler))
    conn.buffer = _ScanCountingBuffer()
    wire = _Wire()
    conn.connection_made(wire)  # type: ignore[arg-type]
    head = b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = [b"1\r\n%c\r\n" % (97 + i % 26) for i in range(4000)]
    conn.data_received(head)
    for chunk in chunks:  # one chunk per read, as a client streaming small writes delivers them
        conn.data_received(chunk)
    conn.data_received(b"0\r\n\r\n")
    [request] = seen
    assert request.body == bytes(97 + i % 26 for i in range(4000))
    assert wire.sent.startswith(b"HTTP/1.1 200 OK")
    total = len(head) + sum(map(len, chunks)) + 5
    # Each chunk's size line is searched once; re-walking the body on every read would pass over
    # the chunks received so far again each time (thousands of times the body here).
    assert len(chunks) <= conn.buffer.scanned <= 2 * total


async def test_shutdown_answers_a_request_read_in_the_same_step_as_the_last_answer_in_flight() -> None:
    """A stop waits for the requests in flight, and more may arrive on keep-alive connections meanwhile: one
    read in the loop step that answers the last of them is in flight too, and is answered before the
    connections close (closing under it would drop its answer while its handler still runs)."""
    release = asyncio.Event()
    handled: list[str] = []

    async def handler(request: Request) -> Response:
        handled.append(request.path)
        if request.path == "/first":
            await release.wait()
        else:
            await asyncio.sleep(0.05)  # answered some steps later, as an invocation is
        return Response(200, request.path.encode())

    server, port = await _serve(handler)
    r1, w1 = await asyncio.open_connection("127.0.0.1", port)
    r2, w2 = await asyncio.open_connection("127.0.0.1", port)
    try:
        await _until(lambda: len(server.connections) == 2)
        w1.write(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        await _until(lambda: handled == ["/first"])
        [second] = [c for c in server.connections if c.idle]
        answered_last = server.notify_idle

        def second_request_arrives() -> None:  # the other connection's bytes, read right after the answer
            answered_last()
            server.notify_idle = answered_last  # type: ignore[method-assign]
            second.data_received(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")

        server.notify_idle = second_request_arrives  # type: ignore[method-assign]
        stopping = asyncio.create_task(server.shutdown(grace=10))
        await _until(lambda: server.stopping)
        release.set()
        await asyncio.wait_for(stopping, 10)
        first, after = await asyncio.wait_for(r1.read(), 10), await asyncio.wait_for(r2.read(), 10)
        assert first.startswith(b"HTTP/1.1 200 OK") and first.endswith(b"/first")
        assert handled == ["/first", "/second"]
        assert after.startswith(b"HTTP/1.1 200 OK") and after.endswith(b"/second"), after
        assert b"Connection: close" in after  # the server is stopping: no more requests on it
    finally:
        w1.close()
        w2.close()
