"""The Lambda Invoke API shape over the registered handlers.

``POST /2015-03-31/functions/<name>/invocations`` so that
``boto3.client("lambda").invoke(FunctionName=..., Payload=...)`` works
against Headwater's ``lambda`` endpoint. Handler errors come back as Lambda
reports them: status 200, ``X-Amz-Function-Error: Unhandled`` and an
``errorMessage`` / ``errorType`` payload.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid

from aiohttp import web

from handlers.deps import Deps
from handlers.exceptions import UnknownHandler
from handlers.lambda_adapter import find_handler, invoke
from handlers.registry import REGISTRY

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> web.Response:
    # Lambda is a rest-json service: botocore reads the code from this header.
    return web.json_response({"Type": "User", "message": message}, status=status,
                             headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())})


def make_lambda_app(deps: Deps, function_arn_prefix: str) -> web.Application:
    """An aiohttp app serving Invoke, GetFunction and ListFunctions."""

    async def invoke_route(request: web.Request) -> web.Response:
        name = request.match_info["name"].rsplit(":", 1)[-1]  # accepts an ARN too
        try:
            spec = find_handler(name)
        except UnknownHandler as err:
            return _error(404, "ResourceNotFoundException", str(err))
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw else {}
        except json.JSONDecodeError as err:
            return _error(400, "InvalidRequestContentException", f"Could not parse request body into json: {err}")
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), "X-Amz-Executed-Version": "$LATEST"}
        if kind == "DryRun":
            return web.Response(status=204, headers=headers)
        try:
            result = await invoke(spec, payload, deps)
        except Exception as err:  # noqa: BLE001 - reported as Lambda reports a function error
            log.warning("invoke %s failed: %s", name, err)
            body = {"errorMessage": str(err), "errorType": type(err).__name__,
                    "stackTrace": traceback.format_exception(err)[-5:]}
            return web.json_response(body, status=200 if kind != "Event" else 202,
                                     headers={**headers, "X-Amz-Function-Error": "Unhandled"})
        return web.json_response(result, status=202 if kind == "Event" else 200, headers=headers)

    def config(name: str) -> dict[str, object]:
        spec = REGISTRY[name]
        return {"FunctionName": name, "FunctionArn": f"{function_arn_prefix}:{name}",
                "Runtime": "python3.11", "Handler": f"{spec.module}.lambda_handler",
                "Description": spec.description, "Timeout": int(spec.timeout_seconds), "State": "Active"}

    async def get_function(request: web.Request) -> web.Response:
        name = request.match_info["name"].rsplit(":", 1)[-1]
        try:
            find_handler(name)
        except UnknownHandler as err:
            return _error(404, "ResourceNotFoundException", str(err))
        return web.json_response({"Configuration": config(name)})

    async def list_functions(request: web.Request) -> web.Response:
        return web.json_response({"Functions": [config(n) for n in sorted(REGISTRY)]})

    app = web.Application(client_max_size=6 * 1024 * 1024)
    app.router.add_post("/2015-03-31/functions/{name}/invocations", invoke_route)
    app.router.add_get("/2015-03-31/functions/{name}", get_function)
    app.router.add_get("/2015-03-31/functions/", list_functions)
    app.router.add_get("/2015-03-31/functions", list_functions)
    return app
