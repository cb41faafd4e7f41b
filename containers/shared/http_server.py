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
client reads the answer rather than a connection reset. A ``Content-Length``
that is not a plain decimal number, or a chunk size that is not plain hex, is a
400: the stream cannot be framed past it.

Memory per connection is bounded: a chunked body is decoded as it arrives
(work linear in its size, its size lines and trailers capped); and while a
request is being answered, or the client leaves its answers unread (the
transport's write buffer over its high-water mark), the server reads at most
:data:`PIPELINE_BYTES` ahead and then stops reading until it catches up, so a
client pipelining without end is held back by TCP, not buffered.

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
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
# A chunk-size line (size and extensions) longer than this is refused, not buffered waiting for its end.
MAX_CHUNK_LINE = 4096
# Bytes read ahead behind a request being answered, or behind answers the client leaves unread,
# before the connection stops reading until it catches up.
PIPELINE_BYTES = 64 * 1024
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
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


@dataclass
class _Head:
    """A request's parsed head, kept while its body arrives."""

    method: str
    target: str
    version: str
    headers: dict[str, str]


def _parse_head(raw: bytes) -> _Head:
    lines = raw.decode("latin-1").split("\r\n")
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
    return _Head(method, target, version, headers)


class _ChunkedBody:
    """Decodes a chunked body as it arrives, taking what it has decoded off the front of the buffer,
    so each byte is looked at once however the body is split into reads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.body = bytearray()
        self.state = "size"  # size -> data -> data-end -> size ... -> trailer
        self.remaining = 0  # bytes of the current chunk still to come
        self.trailer_bytes = 0

    def feed(self, buf: bytearray) -> bool:
        """Decode what ``buf`` holds; ``True`` once the body (with its trailers) is complete."""
        while True:
            if self.state == "data":
                take = min(self.remaining, len(buf))
                self.body += buf[:take]
                del buf[:take]
                self.remaining -= take
                if self.remaining:
                    return False
                self.state = "data-end"
            elif self.state == "data-end":
                if len(buf) < 2:
                    return False
                if buf[:2] != b"\r\n":
                    raise _Malformed(400, "chunk data not followed by CRLF")
                del buf[:2]
                self.state = "size"
            else:
                line_end = buf.find(b"\r\n")
                if self.state == "size":
                    if line_end < 0 and len(buf) <= MAX_CHUNK_LINE:
                        return False
                    if line_end < 0 or line_end > MAX_CHUNK_LINE:
                        raise _Malformed(400, f"chunk size line over {MAX_CHUNK_LINE} bytes")
                    self._size_line(bytes(buf[:line_end]))
                else:  # trailer fields, read past up to the empty line that ends them
                    seen = self.trailer_bytes + (line_end + 2 if line_end >= 0 else len(buf))
                    if seen > MAX_HEAD_BYTES:
                        raise _Malformed(431, "chunked trailers too large")
                    if line_end < 0:
                        return False
                    self.trailer_bytes = seen
                del buf[:line_end + 2]
                if self.state == "trailer" and line_end == 0:
                    return True

    def _size_line(self, line: bytes) -> None:
        text = line.split(b";", 1)[0].rstrip(b" \t")  # chunk extensions are read past
        if not _HEX.fullmatch(text):
            raise _Malformed(400, f"bad chunk size {text[:40]!r}")
        size = int(text, 16)
        if len(self.body) + size > self.limit:
            raise _Malformed(413, f"chunked payload of more than {self.limit} bytes is over the limit")
        self.state, self.remaining = ("data", size) if size else ("trailer", 0)


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
        self.write_paused = False  # the transport holds more unsent answers than its high-water mark
        self.read_paused = False
        self._silence: asyncio.TimerHandle | None = None
        # The request being received: its head once parsed, then its body's framing.
        self._head: _Head | None = None
        self._scanned = 0  # bytes of the buffer known to hold no end of head
        self._length = 0
        self._chunked: _ChunkedBody | None = None

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
        self._process()
        self._settle()
        self._flow()

    def pause_writing(self) -> None:
        """The client is not reading its answers: answer no more until it does."""
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.buffer and not self.closing:
            self._process()
        self._settle()
        self._flow()

    def _flow(self) -> None:
        """Back-pressure: while a request is being answered, or the client leaves its answers unread,
        read ahead at most :data:`PIPELINE_BYTES`, then stop reading (TCP then holds the client
        back) until the connection catches up. A request being received is read on in full."""
        if self.transport is None or self.closing:
            return
        stalled = self.busy or self.write_paused
        if stalled and len(self.buffer) >= PIPELINE_BYTES:
            if not self.read_paused:
                self.read_paused = True
                self.transport.pause_reading()
        elif not stalled and self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

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
        while not self.busy and not self.closing and not self.write_paused:
            try:
                parsed = self._parse()
            except _Malformed as err:
                self._head, self._chunked, self._scanned = None, None, 0
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
        self._flow()

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
        if self.read_paused:  # read again, to drop what the client still sends
            self.read_paused = False
            self.transport.resume_reading()
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
        """The next complete request off the buffer, or ``None`` until more arrives. Work is linear in
        what arrives: the end of the head is searched for only in new bytes, the head is parsed once,
        and a chunked body is decoded as it comes."""
        buf = self.buffer
        if self._head is None:
            head_end = buf.find(b"\r\n\r\n", self._scanned)
            if head_end < 0 or head_end > MAX_HEAD_BYTES:
                if len(buf) > MAX_HEAD_BYTES:
                    raise _Malformed(431, "request head too large")
                self._scanned = max(0, len(buf) - 3)
                return None
            head = _parse_head(bytes(buf[:head_end]))
            del buf[:head_end + 4]
            self._scanned = 0
            self._frame(head)
            self._head = head
        head = self._head
        if self._chunked is not None:
            if not self._chunked.feed(buf):
                return None
            body = bytes(self._chunked.body)
        else:
            if len(buf) < self._length:
                return None
            body = bytes(buf[:self._length])
            del buf[:self._length]
        self._head, self._chunked = None, None
        conn = head.headers.get("connection", "").lower()
        keep_alive = conn != "close" if head.version == "HTTP/1.1" else conn == "keep-alive"
        path, _, query = head.target.partition("?")
        return Request(head.method.upper(), path, head.headers, body, query), keep_alive

    def _frame(self, head: _Head) -> None:
        """How the body after ``head`` ends: chunked, or ``Content-Length`` bytes (refused over the limit)."""
        headers = head.headers
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = _ChunkedBody(self.server.max_body)
            return
        raw = headers.get("content-length", "0")
        if not _DIGITS.fullmatch(raw):  # int() would take "-5", "+5" and "1_0"
            raise _Malformed(400, f"bad Content-Length {raw[:40]!r}")
        length = int(raw)
        expects_continue = headers.get("expect", "").lower() == "100-continue"
        if length > self.server.max_body:
            message = f"payload of {length} bytes is over the limit of {self.server.max_body}"
            if expects_continue:
                raise _Malformed(413, message)  # told no, the client sends no body
            raise _Malformed(413, message, skip=length)  # dropped as it arrives; the next request follows it
        self._length = length
        if expects_continue and len(self.buffer) < length and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")


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
        deadline = self.now() + grace
        # Open connections may still bring a request each (answered with "Connection: close"), and one can
        # be read in the same loop step that answers the last in flight, before this wakes up: look again
        # after every wake-up, and close only once nothing is in flight at that moment.
        while self.in_flight:
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - self.now()))
            except asyncio.TimeoutError:
                log.warning("%d request(s) still in flight after %.0f s; closing", self.in_flight, grace)
                break
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
