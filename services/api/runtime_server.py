"""The ``sagemaker-runtime`` endpoint: ``POST /endpoints/<name>/invocations``.

Hosting (endpoints and their variants) is served by the hosting service
when it exists; until an endpoint is created every invocation is answered
as SageMaker answers an unknown endpoint, so clients see the real error.

``GET /headwater/endpoints/<name>/shadow-agreement`` is Headwater's own (not
part of SageMaker's API): how often each shadow variant's answers agreed
with production's since the node started (``headwater shadows`` prints it).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Invoker = Callable[[str, web.Request], Awaitable[web.StreamResponse | None]]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status,
                             headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())})


def make_runtime_app(region: str, account_id: str, invoker: Invoker | None = None,
                     shadow_report: Callable[[str], dict[str, Any]] | None = None) -> web.Application:
    """The runtime app; ``invoker`` answers for endpoints that exist (``None``: unknown);
    ``shadow_report(endpoint)`` gives its shadow variants' agreement counters."""

    async def invocations(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if invoker is not None:
            response = await invoker(name, request)
            if response is not None:
                return response
        return _error(400, "ValidationError",
                      f"Endpoint {name} of account {account_id} not found.")

    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def shadow_agreement(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return web.json_response({"EndpointName": name,
                                  "ShadowVariants": shadow_report(name) if shadow_report is not None else {}})

    app = web.Application(client_max_size=7 * 1024 * 1024)
    app.router.add_post("/endpoints/{name}/invocations", invocations)
    app.router.add_get("/ping", ping)
    app.router.add_get("/headwater/endpoints/{name}/shadow-agreement", shadow_agreement)
    return app
