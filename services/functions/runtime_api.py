"""The node's side of the Lambda Runtime API, which execution environments poll for work.

Each environment is given ``AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>`` with
a port of its own (Lambda's contract is a ``host:port``), all served by one
loopback server that tells environments apart by the port a request came in
on. The routes are Lambda's: ``GET /2018-06-01/runtime/invocation/next``
(held until an invocation is handed out), ``POST
.../invocation/<request id>/response``, ``.../error`` and
``/runtime/init/error``; so a runtime interface client from a Lambda base
image, or a custom runtime, speaks to it unchanged.
"""

from __future__ import annotations

import json
import socket
from typing import Any, Protocol

from aiohttp import web

PREFIX = "/2018-06-01/runtime"
#: Lambda's limit on a response a function returns (6 MB), and a little over it so the size can be reported.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
_MAX_BODY = MAX_RESPONSE_BYTES + 1024 * 1024


class Handout(Protocol):
    """One invocation as an environment is given it."""

    request_id: str
    payload: bytes
    invoked_function_arn: str
    deadline_ms: int
    client_context: str | None


class RuntimeEndpoint(Protocol):
    """What the server calls on the environment a request came from."""

    async def next_invocation(self) -> Handout:
        """Wait for the next invocation (the environment is initialised once this is first called)."""
        ...

    def respond(self, request_id: str, body: bytes) -> bool:
        """The invocation's result; ``False`` if no such invocation is in progress."""
        ...

    def fail(self, request_id: str, body: bytes, error_type: str | None) -> bool:
        """The invocation's error; ``False`` if no such invocation is in progress."""
        ...

    def init_failed(self, body: bytes, error_type: str | None) -> None:
        """The runtime could not initialise (import the handler)."""
        ...


def _accepted() -> web.Response:
    return web.json_response({"status": "OK"}, status=202)


def _refused(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"errorMessage": message, "errorType": error_type}, status=status)


class RuntimeApiServer:
    """One aiohttp server on loopback with a listening port per environment."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._endpoints: dict[int, RuntimeEndpoint] = {}
        self._sites: dict[int, web.SockSite] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Set the server up (ports are opened per environment)."""
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_get(f"{PREFIX}/invocation/next", self._next)
        app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/response", self._response)
        app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/error", self._error)
        app.router.add_post(f"{PREFIX}/init/error", self._init_error)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()

    async def open(self, endpoint: RuntimeEndpoint) -> str:
        """A port of its own for ``endpoint``; the ``host:port`` it is to be told."""
        assert self._runner is not None, "start() first"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        port = int(sock.getsockname()[1])
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._endpoints[port] = endpoint
        self._sites[port] = site
        return f"{self.host}:{port}"

    async def close_port(self, address: str) -> None:
        """Stop serving an environment's port."""
        port = int(address.rpartition(":")[2])
        self._endpoints.pop(port, None)
        site = self._sites.pop(port, None)
        if site is not None:
            await site.stop()

    async def close(self) -> None:
        """Stop every port and the server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._endpoints.clear()
        self._sites.clear()

    def _endpoint(self, request: web.Request) -> RuntimeEndpoint | None:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        return self._endpoints.get(int(sockname[1])) if sockname else None

    async def _next(self, request: web.Request) -> web.StreamResponse:
        endpoint = self._endpoint(request)
        if endpoint is None:
            return _refused(403, "UnknownEnvironment", "This port serves no execution environment")
        try:
            handout = await endpoint.next_invocation()
        except Exception:  # noqa: BLE001 - the environment is being stopped: nothing more for it
            return _refused(410, "EnvironmentGone", "This execution environment is stopping")
        headers = {"Lambda-Runtime-Aws-Request-Id": handout.request_id,
                   "Lambda-Runtime-Deadline-Ms": str(handout.deadline_ms),
                   "Lambda-Runtime-Invoked-Function-Arn": handout.invoked_function_arn,
                   "Lambda-Runtime-Trace-Id": f"Root=1-{handout.request_id[:8]}-{handout.request_id.replace('-', '')[:24]}"}
        if handout.client_context:
            headers["Lambda-Runtime-Client-Context"] = handout.client_context
        return web.Response(body=handout.payload, headers=headers, content_type="application/json")

    async def _response(self, request: web.Request) -> web.Response:
        endpoint = self._endpoint(request)
        body = await request.read()
        if endpoint is None or not endpoint.respond(request.match_info["request_id"], body):
            return _refused(400, "InvalidRequestID", "Invalid request ID")
        return _accepted()

    async def _error(self, request: web.Request) -> web.Response:
        endpoint = self._endpoint(request)
        body = await request.read()
        error_type = request.headers.get("Lambda-Runtime-Function-Error-Type")
        if endpoint is None or not endpoint.fail(request.match_info["request_id"], _error_body(body), error_type):
            return _refused(400, "InvalidRequestID", "Invalid request ID")
        return _accepted()

    async def _init_error(self, request: web.Request) -> web.Response:
        endpoint = self._endpoint(request)
        if endpoint is None:
            return _refused(403, "UnknownEnvironment", "This port serves no execution environment")
        endpoint.init_failed(_error_body(await request.read()),
                             request.headers.get("Lambda-Runtime-Function-Error-Type"))
        return _accepted()


def _error_body(body: bytes) -> bytes:
    """An error document as the runtime posted it, or one made of its text when it is not JSON."""
    try:
        doc: Any = json.loads(body)
        if isinstance(doc, dict):
            return body
    except ValueError:
        pass
    return json.dumps({"errorMessage": body.decode("utf-8", "replace"), "errorType": "Runtime.Unknown"}).encode()
