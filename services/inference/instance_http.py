"""A lean keep-alive HTTP/1.1 client for the router's hop to an instance's container.

Every invocation crosses this hop, so its per-request cost is the
endpoint's overhead over the container itself. A general client (aiohttp's)
spends most of a 1-row request on its request/response objects, timers and
connector bookkeeping; this one keeps a few open connections per container
port, writes the request head and body directly to the transport and parses
only what the answer needs (status, headers, ``Content-Length``, chunked or
read-to-close bodies, ``Connection: close``). One request at a time per
connection; concurrent requests open more connections, which stay pooled.

Errors: a connection that cannot be made or breaks before the answer is
complete raises :class:`ConnectionError`; no answer within ``timeout``
raises :class:`TimeoutError` (the connection is dropped, never reused).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

MAX_HEAD_BYTES = 64 * 1024
MAX_IDLE_PER_PORT = 64


@dataclass
class RawAnswer:
    """A container's answer: header names are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; :meth:`exchange` sends a request and waits for its answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.eof = False
        self.reusable = True
        self._waiter: asyncio.Future[RawAnswer] | None = None
        self._head: tuple[int, dict[str, str], int] | None = None  # status, headers, body start

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.eof = True
        self._complete()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"the container closed the connection ({exc or 'EOF'})"))

    def eof_received(self) -> bool:
        self.eof = True
        self._complete()
        return False  # close our side too

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self._waiter is not None:
            self._complete()

    def exchange(self, head: bytes, body: bytes, timeout: float) -> asyncio.Future[RawAnswer]:
        """Send one request; the future holds its answer (or the error)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        self._head = None
        self.buffer.clear()
        self.transport.write(head)
        if body:
            self.transport.write(body)
        timer = loop.call_later(timeout, self._expire, waiter, timeout)
        waiter.add_done_callback(lambda _: timer.cancel())
        return waiter

    def _expire(self, waiter: asyncio.Future[RawAnswer], timeout: float) -> None:
        if not waiter.done():
            self.reusable = False
            waiter.set_exception(TimeoutError(f"the container did not answer within {timeout:g} s"))
            if self.transport is not None:
                self.transport.abort()

    def _complete(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            answer = self._parse()
        except ValueError as err:
            self.reusable = False
            waiter.set_exception(ConnectionError(f"malformed answer from the container: {err}"))
            return
        if answer is not None:
            self._waiter = None
            waiter.set_result(answer)

    def _parse(self) -> RawAnswer | None:
        buf = self.buffer
        while self._head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    raise ValueError("answer head too large")
                return None
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            status = int(rest[:3])
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if 100 <= status < 200:  # 100 Continue and the like: the real answer follows
                del buf[:end + 4]
                continue
            connection = headers.get("connection", "").lower()
            if connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive"):
                self.reusable = False
            self._head = (status, headers, end + 4)
        status, headers, start = self._head
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = _dechunk(buf, start)
            if body is None:
                return None
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if len(buf) - start < length:
                return None
            body = bytes(buf[start:start + length])
        else:  # the body runs to the end of the connection
            if not self.eof:
                return None
            self.reusable = False
            body = bytes(buf[start:])
        buf.clear()
        return RawAnswer(status, headers, body)


def _dechunk(buf: bytearray, pos: int) -> bytes | None:
    parts: list[bytes] = []
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";", 1)[0], 16)
        pos = line_end + 2
        if size == 0:
            return b"".join(parts) if buf.find(b"\r\n", pos) >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        parts.append(bytes(buf[pos:pos + size]))
        pos += size + 2


class ContainerClient:
    """Pooled keep-alive connections to the containers of one instance (by loopback port)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._idle: dict[int, list[_Connection]] = {}

    async def post(self, port: int, path: str, headers: dict[str, str], body: bytes, timeout: float, *,
                   fresh: bool = False) -> RawAnswer:
        """``POST`` ``body`` to ``path`` on ``port`` (``fresh``: on a new connection, not a pooled one); see the
        module docstring for errors."""
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{port}", f"Content-Length: {len(body)}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name} has a line break")
            head.append(f"{name}: {value}")
        wire = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        conn = await self._connection(port, fresh)
        try:
            answer = await conn.exchange(wire, body, timeout)
        except BaseException:
            if conn.transport is not None:
                conn.transport.abort()
            raise
        if conn.reusable and not conn.closed:
            idle = self._idle.setdefault(port, [])
            if len(idle) < MAX_IDLE_PER_PORT:
                idle.append(conn)
                return answer
        if conn.transport is not None:
            conn.transport.close()
        return answer

    async def _connection(self, port: int, fresh: bool = False) -> _Connection:
        idle = None if fresh else self._idle.get(port)
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.eof:
                return conn
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Connection, self.host, port)
        except OSError as err:
            raise ConnectionError(f"cannot connect to the container on port {port}: {err}") from err
        return conn

    def close(self) -> None:
        """Close every pooled connection."""
        for conns in self._idle.values():
            for conn in conns:
                if conn.transport is not None:
                    conn.transport.close()
        self._idle.clear()
