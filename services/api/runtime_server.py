"""The ``sagemaker-runtime`` endpoint: ``POST /endpoints/<name>/invocations``.

Hosting (endpoints and their variants) is served by the hosting service
when it exists; until an endpoint is created every invocation is answered
as SageMaker answers an unknown endpoint, so clients see the real error.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

Invoker = Callable[[str, web.Request], Awaitable[web.StreamResponse | None]]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status,
                             headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())})


def make_runtime_app(region: str, account_id: str, invoker: Invoker | None = None) -> web.Application:
    """The runtime app; ``invoker`` answers for endpoints that exist (``None``: unknown)."""

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

    app = web.Application(client_max_size=7 * 1024 * 1024)
    app.router.add_post("/endpoints/{name}/invocations", invocations)
    app.router.add_get("/ping", ping)
    return app
