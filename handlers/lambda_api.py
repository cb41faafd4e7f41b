"""The Lambda Invoke API shape over the registered handlers.

``POST /2015-03-31/functions/<name>/invocations`` so that
``boto3.client("lambda").invoke(FunctionName=..., Payload=...)`` works
against Headwater's ``lambda`` endpoint. Handler errors come back as Lambda
reports them: status 200, ``X-Amz-Function-Error: Unhandled`` and an
``errorMessage`` / ``errorType`` / ``stackTrace`` payload, the stack holding
the function's own frames only (none of Headwater's). An ``Event``
invocation is queued where Lambda queues it, durably: on the function's own
SQS queue, answered 202 once the queue has it. The handler runtime then runs
it as it runs the function's events, retrying a failure and dead-lettering it
with the error recorded; a node that stops meanwhile loses nothing.
Functions are named as Lambda accepts them (name, ``name:qualifier``, partial
or full ARN); ``$LATEST`` is the only version there is.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from aiohttp import web

from handlers.deps import Deps
from handlers.exceptions import UnknownHandler
from handlers.lambda_adapter import find_handler, function_error, invoke, is_sqs_event
from handlers.registry import REGISTRY, HandlerSpec
from services.core.queues import MessageQueue

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> web.Response:
    # Lambda is a rest-json service: botocore reads the code from this header.
    return web.json_response({"Type": "User", "message": message}, status=status,
                             headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())})


# arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>], <account>:function:<name>[:<qualifier>],
# or <name>[:<qualifier>].
_FUNCTION = re.compile(r"^(?:(?:arn:aws[a-z-]*:lambda:[a-z0-9-]+:)?\d{12}:function:)?"
                       r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$")


def _find(request: web.Request) -> HandlerSpec:
    """The handler a request's ``FunctionName`` (and ``Qualifier``) names, or :class:`UnknownHandler`."""
    raw = request.match_info["name"]
    m = _FUNCTION.match(raw)
    if m is None:
        raise UnknownHandler(f"Function not found: {raw}")
    for qualifier in (m["qualifier"], request.query.get("Qualifier")):
        if qualifier not in (None, "$LATEST"):
            raise UnknownHandler(f"Function not found: {m['name']}:{qualifier} (only $LATEST exists)")
    return find_handler(m["name"])


def make_lambda_app(deps: Deps, function_arn_prefix: str, queues: MessageQueue) -> web.Application:
    """An aiohttp app serving Invoke, GetFunction and ListFunctions; ``Event`` invocations go to ``queues``."""

    async def queue_event(spec: HandlerSpec, payload: Any) -> None:
        # An SQS-shaped payload carries its messages: each is queued as the message it was.
        bodies = [r["body"] for r in payload["Records"]] if is_sqs_event(payload) else [payload]
        for body in bodies:
            await queues.send(deps.settings.queue_name(spec.name), body)

    async def invoke_route(request: web.Request) -> web.Response:
        try:
            spec = _find(request)
        except UnknownHandler as err:
            return _error(404, "ResourceNotFoundException", str(err))
        name = spec.name
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw else {}
        except json.JSONDecodeError as err:
            return _error(400, "InvalidRequestContentException", f"Could not parse request body into json: {err}")
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), "X-Amz-Executed-Version": "$LATEST"}
        if kind == "DryRun":
            return web.Response(status=204, headers=headers)
        if kind == "Event":
            try:
                await queue_event(spec, payload)
            except Exception as err:  # noqa: BLE001 - not accepted: the caller retries, as with Lambda's 5xx
                log.warning("could not queue an Event invocation of %s: %s", name, err)
                return _error(500, "ServiceException", f"The invocation could not be queued: {err}")
            return web.Response(status=202, headers=headers)
        try:
            result = await invoke(spec, payload, deps)
        except Exception as err:  # noqa: BLE001 - reported as Lambda reports a function error
            # The whole traceback stays in the node's log; the caller gets the function's frames only.
            log.warning("invoke %s failed: %s", name, err, exc_info=log.isEnabledFor(logging.DEBUG))
            return web.json_response(function_error(spec, err), status=200,
                                     headers={**headers, "X-Amz-Function-Error": "Unhandled"})
        return web.json_response(result, status=200, headers=headers)

    def config(name: str) -> dict[str, object]:
        spec = REGISTRY[name]
        return {"FunctionName": name, "FunctionArn": f"{function_arn_prefix}:{name}",
                "Runtime": "python3.11", "Handler": f"{spec.module}.lambda_handler",
                "Description": spec.description, "Timeout": int(spec.timeout_seconds), "State": "Active"}

    async def get_function(request: web.Request) -> web.Response:
        try:
            spec = _find(request)
        except UnknownHandler as err:
            return _error(404, "ResourceNotFoundException", str(err))
        return web.json_response({"Configuration": config(spec.name)})

    async def list_functions(request: web.Request) -> web.Response:
        return web.json_response({"Functions": [config(n) for n in sorted(REGISTRY)]})

    app = web.Application(client_max_size=6 * 1024 * 1024)
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke_route)
    app.router.add_get("/2015-03-31/functions/{name}", get_function)
    app.router.add_get("/2015-03-31/functions/", list_functions)
    app.router.add_get("/2015-03-31/functions", list_functions)
    return app
