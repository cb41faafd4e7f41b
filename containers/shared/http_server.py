"""A lean HTTP/1.1 server on asyncio, for inference containers.

An inference container answers two routes with tiny bodies at high rates,
from one client (the platform's router) over a few keep-alive connections.
A full web framework spends most of a 1-row request on routing, middleware
and header objects; this parses only what the contract needs (request line,
headers, ``Content-Length`` or chunked bodies, keep-alive, pipelining) and
writes the response in one ``transport.write``.

A handler returns a :class:`Response`, or an awaitable of one (work moved
off the event loop). Requests on one connection are answered in order;
while an awaitable response is pending, later pipelined requests wait.
The node's ``sagemaker-runtime`` port runs on this server too
(:mod:`services.api.runtime_server`), for the same reason.

A request refused before its handler is answered by ``error_response``
(plain text unless the server is given another shape). A body over
``max_body`` with a ``Content-Length`` is dropped as it arrives and the
connection serves on; a refusal after which the stream cannot be followed
(a malformed head, a chunked body over the limit) answers, shuts the
sending side and drops what still arrives until the client closes, so the
client reads the answer rather than a connection reset.

Several worker processes may serve one listening socket
(:mod:`containers.common.server_workers`). Left to asyncio's accept loop,
whichever worker wakes first takes every connection that has arrived, so
two requests sent at once over two new connections (batch transform's
``MaxConcurrentTransforms``) queue in one worker while the other idles.
On a shared socket a worker therefore accepts one connection at a time,
and none while it is *engaged*: it holds a connection that has not yet
sent its first request, or a request that is still arriving or being
answered. The next connection then goes to a worker that is free, as a
gunicorn sync worker takes the next connection only when it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
# A new connection that sends nothing this long no longer holds its worker back from accepting.
FIRST_REQUEST_WAIT = 1.0
# How long a connection refused mid-stream drops what its client still sends before closing.
LINGER = 5.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
            409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
            507: "Insufficient Storage"}


@dataclass
class Request:
    """One parsed request; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str = ""  # the raw query string, without "?"


@dataclass
class Response:
    """What a handler answers."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, keep_alive: bool) -> bytes:
        """The response's bytes on the wire."""
        head = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}",
                f"Content-Type: {self.content_type}", f"Content-Length: {len(self.body)}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        if not keep_alive:
            head.append("Connection: close")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body


Handler = Callable[[Request], "Response | Awaitable[Response]"]


ErrorResponse = Callable[[int, str], Response]


def plain_error(status: int, message: str) -> Response:
    """A refused request's answer: the reason as plain text."""
    return Response(status, message.encode("utf-8"))


class _Malformed(Exception):
    """A request that cannot be served; ``skip``: body bytes to drop so the connection stays usable."""

    def __init__(self, status: int, message: str, skip: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.skip = skip


class _Connection(asyncio.Protocol):
    """One client connection: parse, dispatch, answer in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.closing = False
        self.engaged = False
        self.skipping = 0  # bytes of a refused body still to drop as they arrive
        self.lingering = False  # refused and shut: what still arrives is dropped
        self.last_active = 0.0  # loop time of the last bytes received or answer sent
        self._silence: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.last_active = self.server.now()
        self.server.connections.add(self)
        if self.server.shared:  # held until its first request is answered, or it stays silent
            self._engage(True)
            self._silence = asyncio.get_running_loop().call_later(FIRST_REQUEST_WAIT, self._engage, False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.closing = True
        self._engage(False)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return
        self.last_active = self.server.now()
        if self.skipping:
            dropped = min(self.skipping, len(data))
            self.skipping -= dropped
            data = data[dropped:]
        self.buffer += data
        if not self.busy:
            self._process()
        self._settle()

    def _end_first_wait(self) -> None:
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None

    def _engage(self, engaged: bool) -> None:
        if not engaged:
            self._end_first_wait()
        if engaged != self.engaged:
            self.engaged = engaged
            self.server.engage(1 if engaged else -1)

    def _settle(self) -> None:
        """On a shared socket: engaged while a request is arriving or being answered."""
        if self.server.shared and self._silence is None:
            self._engage(self.busy or (bool(self.buffer) and not self.closing))

    @property
    def idle(self) -> bool:
        """No request is being answered on this connection."""
        return not self.busy

    def _process(self) -> None:
        while not self.busy and not self.closing:
            try:
                parsed = self._parse()
            except _Malformed as err:
                answer = self.server.error_response(err.status, str(err))
                if err.skip is None:  # the stream cannot be followed past this request
                    self._linger(answer)
                    return
                self._skip(err.skip)
                self._reply(answer, keep_alive=not self.server.stopping)
                continue
            if parsed is None:
                return
            request, keep_alive = parsed
            self.server.in_flight += 1
            try:
                result = self.server.handler(request)
            except Exception:  # noqa: BLE001 - a handler bug must not kill the connection
                log.exception("handler failed on %s %s", request.method, request.path)
                result = Response(500, b"internal server error")
            if inspect.isawaitable(result):
                self.busy = True
                task = asyncio.ensure_future(result)
                task.add_done_callback(lambda t, k=keep_alive: self._finish(t, k))
                return
            self._answer(result, keep_alive)

    def _finish(self, task: asyncio.Future[Response], keep_alive: bool) -> None:
        self.busy = False
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                log.error("handler failed", exc_info=task.exception())
            response = Response(500, b"internal server error")
        else:
            response = task.result()
        self._answer(response, keep_alive)
        if self.buffer and not self.closing:
            self._process()
        self._settle()

    def _answer(self, response: Response, keep_alive: bool) -> None:
        self.server.in_flight -= 1
        self.last_active = self.server.now()
        self._end_first_wait()  # the first request is answered: engaged now only by what follows
        self._reply(response, keep_alive and not self.server.stopping)
        self.server.notify_idle()

    def _linger(self, response: Response) -> None:
        """Answer and close as a lingering close does: the answer is sent and our side shut, then
        whatever the client still sends is dropped until it closes too (or :data:`LINGER` s pass).
        Closing at once, with its unread bytes pending, would reset the connection, and a reset
        throws away the answer before the client reads it."""
        self.closing = True
        self.buffer.clear()
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(response.encode(keep_alive=False))
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.lingering = True
        asyncio.get_running_loop().call_later(LINGER, self.transport.close)

    def _skip(self, count: int) -> None:
        """Drop the next ``count`` body bytes: those buffered now, and the rest as they arrive."""
        dropped = min(count, len(self.buffer))
        del self.buffer[:dropped]
        self.skipping = count - dropped

    def _reply(self, response: Response, keep_alive: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(response.encode(keep_alive))
        if not keep_alive:
            self.closing = True
            self.transport.close()

    def _parse(self) -> tuple[Request, bool] | None:
        buf = self.buffer
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buf) > MAX_HEAD_BYTES:
                raise _Malformed(431, "request head too large")
            return None
        lines = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise _Malformed(400, f"bad request line {lines[0][:80]!r}") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _Malformed(400, f"bad header line {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        start = head_end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            decoded = _dechunk(buf, start, self.server.max_body)
            if decoded is None:
                return None
            body, end = decoded
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _Malformed(400, "bad Content-Length") from None
            expects_continue = headers.get("expect", "").lower() == "100-continue"
            if length > self.server.max_body:
                message = f"payload of {length} bytes is over the limit of {self.server.max_body}"
                if expects_continue:
                    raise _Malformed(413, message)  # told no, the client sends no body
                del buf[:start]  # the body is dropped as it arrives; the next request follows it
                raise _Malformed(413, message, skip=length)
            if len(buf) - start < length:
                if expects_continue and self.transport is not None:
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return None
            end = start + length
            body = bytes(buf[start:end])
        del buf[:end]
        conn = headers.get("connection", "").lower()
        keep_alive = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
        path, _, query = target.partition("?")
        return Request(method.upper(), path, headers, body, query), keep_alive


def _dechunk(buf: bytearray, pos: int, limit: int) -> tuple[bytes, int] | None:
    """Decode a chunked body starting at ``pos``; ``None`` while incomplete; over ``limit`` bytes: 413."""
    parts: list[bytes] = []
    size_so_far = 0
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buf[pos:line_end]).split(b";", 1)[0], 16)
        except ValueError:
            raise _Malformed(400, "bad chunk size") from None
        pos = line_end + 2
        size_so_far += size
        if size_so_far > limit:
            raise _Malformed(413, f"chunked payload of more than {limit} bytes is over the limit")
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", pos - 2)
            return (b"".join(parts), trailer_end + 4) if trailer_end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        parts.append(bytes(buf[pos:pos + size]))
        pos += size + 2


class HttpServer:
    """Serves ``handler`` on ``host:port``; :meth:`shutdown` drains in-flight requests."""

    def __init__(self, handler: Handler, *, max_body: int = 100 * 1024 * 1024,
                 error_response: ErrorResponse = plain_error, idle_timeout: float | None = None) -> None:
        self.handler = handler
        self.max_body = max_body
        self.error_response = error_response  # the answer to a request refused before its handler
        # A connection with no request being answered and nothing received for this long is
        # closed (a client's forgotten keep-alive, or a request head that stopped arriving).
        # None: never, for containers, whose one client is the platform's pool.
        self.idle_timeout = idle_timeout
        self._sweep: asyncio.TimerHandle | None = None
        self.connections: set[_Connection] = set()
        self.in_flight = 0
        self.stopping = False
        self.shared = False  # the listening socket is shared with other worker processes
        self.engaged = 0  # connections holding this worker back from accepting (shared socket only)
        self._server: asyncio.base_events.Server | None = None
        self._listening: socket.socket | None = None
        self._accepting = False
        self._idle = asyncio.Event()

    def now(self) -> float:
        """The event loop's clock."""
        return asyncio.get_running_loop().time()

    def _close_idle(self) -> None:
        """Close the connections idle past :attr:`idle_timeout`; check again in half of it."""
        assert self.idle_timeout is not None
        deadline = self.now() - self.idle_timeout
        for conn in list(self.connections):
            if not conn.busy and conn.last_active < deadline and conn.transport is not None:
                conn.closing = True
                conn.transport.close()
        self._sweep = asyncio.get_running_loop().call_later(self.idle_timeout / 2, self._close_idle)

    async def start(self, host: str, port: int, sock: socket.socket | None = None) -> int:
        """Listen (on ``sock`` when given: bound already, and shared with other workers); return the
        bound port (useful when ``port`` is 0)."""
        loop = asyncio.get_running_loop()
        if self.idle_timeout is not None:
            self._sweep = loop.call_later(self.idle_timeout / 2, self._close_idle)
        if sock is not None:
            self.shared, self._listening = True, sock
            self._accept_when_free()
            return int(sock.getsockname()[1])
        self._server = await loop.create_server(lambda: _Connection(self), host, port, reuse_address=True,
                                                backlog=1024)
        return int(self._server.sockets[0].getsockname()[1])

    def engage(self, delta: int) -> None:
        """A connection became engaged (+1) or free (-1): accept again only once none is engaged."""
        self.engaged += delta
        self._accept_when_free()

    def _accept_when_free(self) -> None:
        if self._listening is None:
            return
        want = self.engaged == 0 and not self.stopping
        if want != self._accepting:
            loop = asyncio.get_running_loop()
            if want:
                loop.add_reader(self._listening.fileno(), self._accept_one)
            else:
                loop.remove_reader(self._listening.fileno())
            self._accepting = want

    def _accept_one(self) -> None:
        assert self._listening is not None
        try:
            conn, _ = self._listening.accept()
        except (BlockingIOError, InterruptedError):  # another worker took it
            return
        except OSError as err:  # out of descriptors, say: keep serving what is open
            log.warning("accept failed: %s", err)
            return
        conn.setblocking(False)
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        loop = asyncio.get_running_loop()
        protocol = _Connection(self)
        # Counted as engaged before the transport is made, so no second accept slips in meanwhile.
        self.engage(1)

        def made(task: asyncio.Future[object]) -> None:
            self.engage(-1)
            if not task.cancelled() and task.exception() is not None:
                log.warning("could not serve an accepted connection: %s", task.exception())

        loop.create_task(loop.connect_accepted_socket(lambda: protocol, conn)).add_done_callback(made)

    def notify_idle(self) -> None:
        """Wake :meth:`shutdown` when the last in-flight request is answered."""
        if self.in_flight == 0:
            self._idle.set()

    async def shutdown(self, grace: float = 30.0) -> None:
        """Stop accepting, answer what is in flight (up to ``grace`` s), close connections."""
        self.stopping = True
        if self._sweep is not None:
            self._sweep.cancel()
        if self._server is not None:
            self._server.close()
        self._accept_when_free()  # a shared socket stays open for the other workers; this one stops taking
        if self.in_flight:
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except asyncio.TimeoutError:
                log.warning("%d request(s) still in flight after %.0f s; closing", self.in_flight, grace)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
