"""The router's keep-alive client to instance containers, against real loopback servers."""

from __future__ import annotations

import asyncio
import socket

import pytest

from services.inference.instance_http import ContainerClient


async def _raw_server(answer: bytes, *, close: bool) -> tuple[asyncio.base_events.Server, int, list[int]]:
    """A server that answers every request with ``answer``; it counts the connections it accepted."""
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(answer)
            await writer.drain()
            if close:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], accepted


async def test_keep_alive_connections_are_reused() -> None:
    server, port, accepted = await _raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 3\r\n\r\n0.5", close=False)
    client = ContainerClient()
    try:
        for _ in range(5):
            answer = await client.post(port, "/invocations", {"Content-Type": "text/csv"}, b"1,2", 5)
            assert (answer.status, answer.body, answer.headers["content-type"]) == (200, b"0.5", "text/csv")
        answers = await asyncio.gather(*(client.post(port, "/invocations", {}, b"x", 5) for _ in range(3)))
        assert [a.body for a in answers] == [b"0.5"] * 3
    finally:
        client.close()
        server.close()
    assert len(accepted) == 3  # one connection for the sequential requests, two more for the concurrent ones


@pytest.mark.parametrize("answer, body", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", b"abcde"),
    (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", b"until close"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope",
     b"nope"),
])
async def test_chunked_read_to_close_and_interim_answers(answer: bytes, body: bytes) -> None:
    server, port, accepted = await _raw_server(answer, close=b"HTTP/1.0" in answer or b"close" in answer)
    client = ContainerClient()
    try:
        first = await client.post(port, "/invocations", {}, b"", 5)
        second = await client.post(port, "/invocations", {}, b"", 5)
    finally:
        client.close()
        server.close()
    assert first.body == second.body == body
    assert len(accepted) == (1 if b"chunked" in answer else 2)  # closed connections are never reused


async def test_refused_connection_and_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ContainerClient()
    with pytest.raises(ConnectionError):
        await client.post(port, "/invocations", {}, b"x", 5)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        await asyncio.sleep(10)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        with pytest.raises(TimeoutError):
            await client.post(server.sockets[0].getsockname()[1], "/invocations", {}, b"x", 0.2)
    finally:
        server.close()
    with pytest.raises(ValueError):
        await client.post(port, "/invocations", {"Accept": "text/csv\r\nX: injected"}, b"x", 5)
