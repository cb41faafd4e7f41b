"""Serving an AWS rest-json API (Lambda and friends) from botocore's model of it.

Each operation's route is its ``http.method`` and ``requestUri`` in the
model (``/2015-03-31/functions/{FunctionName}/invocations``). A request's
parameters are gathered as botocore serialises them: URI labels, query
strings and headers by each member's ``location``, a ``payload`` member from
the raw body (a blob as bytes), the other members from the JSON body; then
checked against the model (:mod:`services.api.validation`) before the
handler runs. A handler returns its output members; they are written back
by the output shape: ``statusCode``, ``header`` members, a ``payload``
member as the body, the rest as JSON. Errors are rest-json's: the status,
``x-amzn-ErrorType: <code>`` (which botocore reads) and a
``{"Type": "User", "message": ...}`` body.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from botocore.model import OperationModel, Shape

from services.api import protocol
from services.api.validation import load_service_model, validate_input
from services.core.exceptions import InternalFailure, SerializationException, ServiceError

__all__ = ["RestJsonService", "RestHandler"]

log = logging.getLogger(__name__)

RestHandler = Callable[[dict[str, Any]], Awaitable[Mapping[str, Any] | None]]
_INTERNAL = "An error occurred and the request cannot be processed."


@dataclass
class _Route:
    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    query: dict[str, str]  # literal query members a requestUri carries ("?versions")
    handler: RestHandler


def _compile(uri: str) -> tuple[re.Pattern[str], dict[str, str]]:
    path, _, query = uri.partition("?")
    literal = {k: v for k, _, v in (part.partition("=") for part in query.split("&") if part)}
    out, pos = "", 0
    for m in re.finditer(r"\{([A-Za-z0-9_]+)(\+?)\}", path):
        out += re.escape(path[pos:m.start()])
        out += f"(?P<{m[1]}>.+)" if m[2] else f"(?P<{m[1]}>[^/]+)"
        pos = m.end()
    out += re.escape(path[pos:].rstrip("/"))
    return re.compile(f"^{out}/?$"), literal


def _scalar(shape: Shape, text: str) -> Any:
    """A URI, query or header value as the member's type."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError:
        raise SerializationException(f"'{text}' can not be converted to a number") from None
    if kind == "boolean":
        return text.lower() == "true"
    return text


def error_response(err: ServiceError, request_id: str) -> web.Response:
    """A rest-json error that boto3 reads as ``ClientError`` with ``err.code``."""
    body: dict[str, Any] = {"Type": "User" if err.status < 500 else "Service", "message": err.message}
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": err.code}
    reason = getattr(err, "reason", None)
    if reason:
        body["Reason"] = reason
    return web.Response(status=err.status, body=json.dumps(body).encode(), content_type="application/json",
                        headers=headers)


class RestJsonService:
    """One rest-json service: its model, its operation handlers, its aiohttp app."""

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name
        self.model = load_service_model(service_name)
        self._routes: list[_Route] = []

    @property
    def operations(self) -> list[str]:
        """The operations served, sorted."""
        return sorted(r.operation.name for r in self._routes)

    def operation(self, name: str) -> Callable[[RestHandler], RestHandler]:
        """Decorator registering ``async def fn(params) -> output members`` for operation ``name``."""
        op = self.model.operation_model(name)  # an unknown name fails at import time

        def register(fn: RestHandler) -> RestHandler:
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(f"handler for {name} must be an async function")
            pattern, query = _compile(op.http["requestUri"])
            self._routes.append(_Route(op, op.http["method"], pattern, query, fn))
            # Literal-query routes first: they are the more specific match of the same path.
            self._routes.sort(key=lambda r: -len(r.query))
            return fn

        return register

    def make_app(self, *, client_max_size: int = 70 * 1024 ** 2) -> web.Application:
        """The aiohttp application serving every registered operation."""
        app = web.Application(client_max_size=client_max_size)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        request_id = protocol.new_request_id()
        path = request.rel_url.raw_path
        route, match = self._match(request.method, path, request)
        if route is None or match is None:
            return error_response(_UnknownOperation(f"No operation serves {request.method} {path}"), request_id)
        try:
            params = await self._params(route, match, request)
            payload_member = route.operation.input_shape.serialization.get("payload") \
                if route.operation.input_shape is not None else None
            checked = {k: v for k, v in params.items() if k != payload_member or isinstance(v, dict)}
            validate_input(self.model, route.operation.name, checked)
            output = await route.handler(params)
            return self._response(route.operation, output or {}, request_id)
        except web.HTTPException:
            raise
        except ServiceError as err:
            return error_response(err, request_id)
        except Exception:
            log.exception("%s.%s failed (request %s)", self.service_name, route.operation.name, request_id)
            return error_response(_ServiceFailure(_INTERNAL), request_id)

    def _match(self, method: str, path: str, request: web.Request) -> tuple[_Route | None, re.Match[str] | None]:
        for route in self._routes:
            if route.method != method:
                continue
            m = route.pattern.match(path)
            if m is None:
                continue
            if any(k not in request.query for k in route.query):
                continue
            return route, m
        return None, None

    async def _params(self, route: _Route, match: re.Match[str], request: web.Request) -> dict[str, Any]:
        shape = route.operation.input_shape
        params: dict[str, Any] = {}
        if shape is None:
            return params
        payload_member = shape.serialization.get("payload")
        body = await request.read()
        for name, member in shape.members.items():
            where = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if where == "uri":
                if wire in match.groupdict():
                    params[name] = unquote(match[wire])
            elif where == "querystring":
                if member.type_name == "list":
                    values = request.query.getall(wire, [])
                    if values:
                        params[name] = [_scalar(member.member, v) for v in values]  # type: ignore[attr-defined]
                elif wire in request.query:
                    params[name] = _scalar(member, request.query[wire])
            elif where == "header":
                if wire in request.headers:
                    params[name] = _scalar(member, request.headers[wire])
        if payload_member:
            member = shape.members[payload_member]
            if member.type_name in ("blob", "string"):
                params[payload_member] = body
            elif body.strip():
                params[payload_member] = protocol.decode_body(body)
        elif body.strip():
            for name, value in protocol.decode_body(body).items():
                member = shape.members.get(name)
                if member is not None and member.serialization.get("location") is None:
                    params[name] = value
        return params

    def _response(self, op: OperationModel, output: Mapping[str, Any], request_id: str) -> web.Response:
        status = int(op.http.get("responseCode", 200))
        headers = {"x-amzn-RequestId": request_id}
        shape = op.output_shape
        if shape is None:
            return web.Response(status=status, headers=headers)
        payload_member = shape.serialization.get("payload")
        doc: dict[str, Any] = {}
        body: bytes | None = None
        for name, value in output.items():
            member = shape.members.get(name)
            if member is None or value is None:
                continue
            where = member.serialization.get("location")
            if where == "statusCode":
                status = int(value)
            elif where == "header":
                headers[member.serialization.get("name", name)] = str(value)
            elif name == payload_member:
                body = value if isinstance(value, (bytes, bytearray)) else protocol.encode_json(value)
            else:
                doc[name] = value
        if body is None and payload_member is None and status != 204:
            body = protocol.encode_json(doc)
        return web.Response(status=status, body=body, headers=headers,
                            content_type="application/json" if body is not None else None)


class _UnknownOperation(ServiceError):
    code = "UnknownOperationException"
    status = 404


class _ServiceFailure(InternalFailure):
    code = "ServiceException"
