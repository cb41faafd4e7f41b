"""The ``sagemaker-runtime`` endpoint: ``POST /endpoints/<name>/invocations`` and ``.../invocations-response-stream``.

Hosting (endpoints and their variants) is served by the hosting service
when it exists; until an endpoint is created every invocation is answered
as SageMaker answers an unknown endpoint, so clients see the real error.

``InvokeEndpointWithResponseStream`` is the same invocation (routing,
capture, metrics, errors), its request's ``Accept`` type named by
``X-Amzn-SageMaker-Accept``, answered as an event stream
(:mod:`services.api.event_stream`) with the answer's type in
``X-Amzn-SageMaker-Content-Type``. No container Headwater runs streams its
answer, so the stream is one ``PayloadPart``; errors before it are the
runtime's usual ones (``ModelError``, ``ValidationError``...).

``GET /headwater/endpoints/<name>/shadow-agreement`` is Headwater's own (not
part of SageMaker's API): how often each shadow variant's answers agreed
with production's since the node started (``headwater shadows`` prints it).

Every invocation crosses this server and then the router's hop to a
container, so it runs on the same lean HTTP/1.1 server as the inference
containers (:mod:`containers.shared.http_server`), not a web framework: at
1-row requests a framework's request objects, routing and middleware cost
more than the hop itself. Requests refused before routing (a body over
6 MB, a malformed head) are answered as ``sagemaker-runtime`` errors.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from containers.shared.http_server import HttpServer, Request, Response
from services.api.event_stream import EVENT_STREAM, payload_parts
from services.core.access import check_access
from services.core.exceptions import ServiceError
from services.hosting.runtime_errors import runtime_error

MAX_PAYLOAD = 6 * 1024 * 1024
# Idle keep-alive connections are closed after this long, as aiohttp's server (which served this
# port before) and AWS's own endpoints do; clients' pools reconnect.
IDLE_TIMEOUT = 75.0
INVOCATIONS_PREFIX, INVOCATIONS_SUFFIX = "/endpoints/", "/invocations"
STREAM_SUFFIX = "/invocations-response-stream"
# InvokeEndpointWithResponseStream's own names for the request's Accept and the answer's Content-Type.
H_STREAM_ACCEPT, H_STREAM_CONTENT_TYPE = "x-amzn-sagemaker-accept", "X-Amzn-SageMaker-Content-Type"
SHADOW_PREFIX, SHADOW_SUFFIX = "/headwater/endpoints/", "/shadow-agreement"

Invoker = Callable[[str, Request], Awaitable[Response | None]]


def refused(status: int, message: str) -> Response:
    """A request the HTTP layer refused, in the runtime's error shape."""
    if status == 413:
        return runtime_error(413, "ValidationError", f"Received payload of more than {MAX_PAYLOAD} bytes, the "
                             f"maximum allowed for InvokeEndpoint is {MAX_PAYLOAD} bytes (6 MB).")
    return runtime_error(status, "ValidationError", message)


def _name_between(path: str, prefix: str, suffix: str) -> str | None:
    if path.startswith(prefix) and path.endswith(suffix) and len(path) > len(prefix) + len(suffix):
        name = unquote(path[len(prefix):-len(suffix)])
        return name if "/" not in name else None
    return None


def _query_credential(request: Request) -> str | None:
    """A presigned request's ``X-Amz-Credential``."""
    if "X-Amz-Credential" not in request.query:
        return None
    return parse_qs(request.query).get("X-Amz-Credential", [None])[0]


class RuntimeServer:
    """The runtime's routes; ``invoker`` answers for endpoints that exist (``None``: unknown endpoint),
    ``shadow_report(endpoint)`` gives an endpoint's shadow variants' agreement counters; a connection
    idle for ``idle_timeout`` seconds is closed."""

    def __init__(self, region: str, account_id: str, invoker: Invoker | None = None,
                 shadow_report: Callable[[str], dict[str, Any]] | None = None,
                 idle_timeout: float = IDLE_TIMEOUT, access_token: str | None = None) -> None:
        self.region = region
        self.account_id = account_id
        self.invoker = invoker
        self.shadow_report = shadow_report
        self.access_token = access_token  # set: every request must carry it (services.core.access)
        self._http = HttpServer(self.route, max_body=MAX_PAYLOAD, error_response=refused,
                                idle_timeout=idle_timeout)

    def route(self, request: Request) -> Response | Awaitable[Response]:
        """The answer to one request (an awaitable one for invocations)."""
        if self.access_token is not None:
            try:
                check_access(self.access_token, request.headers.get("authorization"), _query_credential(request))
            except ServiceError as err:
                return runtime_error(err.status, err.code, err.message)
        path = request.path
        if (name := _name_between(path, INVOCATIONS_PREFIX, INVOCATIONS_SUFFIX)) is not None:
            if request.method != "POST":
                return runtime_error(405, "ValidationError", "InvokeEndpoint is POST /endpoints/<name>/invocations.")
            return self._invoke(name, request)
        if (name := _name_between(path, INVOCATIONS_PREFIX, STREAM_SUFFIX)) is not None:
            if request.method != "POST":
                return runtime_error(405, "ValidationError", "InvokeEndpointWithResponseStream is "
                                     "POST /endpoints/<name>/invocations-response-stream.")
            return self._invoke_stream(name, request)
        if request.method == "GET" and path == "/ping":
            return Response(200, b'{"status": "ok"}', "application/json")
        if request.method == "GET" and (name := _name_between(path, SHADOW_PREFIX, SHADOW_SUFFIX)) is not None:
            report = self.shadow_report(name) if self.shadow_report is not None else {}
            return Response(200, json.dumps({"EndpointName": name, "ShadowVariants": report}).encode(),
                            "application/json")
        return runtime_error(404, "UnknownOperationException", f"No operation at {request.method} {path}.")

    async def _invoke(self, name: str, request: Request) -> Response:
        if self.invoker is not None:
            response = await self.invoker(name, request)
            if response is not None:
                return response
        return runtime_error(400, "ValidationError", f"Endpoint {name} of account {self.account_id} not found.")

    async def _invoke_stream(self, name: str, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k not in ("accept", H_STREAM_ACCEPT)}
        if accept := request.headers.get(H_STREAM_ACCEPT):
            headers["accept"] = accept
        response = await self._invoke(name, dataclasses.replace(request, headers=headers))
        if response.status != 200:
            return response
        return Response(200, payload_parts([response.body]), EVENT_STREAM,
                        {**response.headers, H_STREAM_CONTENT_TYPE: response.content_type})

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port``; the bound port (useful when ``port`` is 0)."""
        return await self._http.start(host, port)

    async def close(self, grace: float = 30.0) -> None:
        """Stop accepting, answer the requests in flight (up to ``grace`` s), close every connection."""
        await self._http.shutdown(grace)
