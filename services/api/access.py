"""The access-token check of a node's aiohttp servers (the control plane, Lambda, autoscaling).

See :mod:`services.core.access` for what is checked. A refused request never
reaches routing; its answer has the shape botocore reads for both JSON 1.1
and rest-json services (``__type`` in the body, ``x-amzn-ErrorType`` header).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from services.api import protocol
from services.core.access import check_access
from services.core.exceptions import ServiceError


def access_middleware(token: str) -> Middleware:
    """A middleware refusing every request that does not carry ``token``."""

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            check_access(token, request.headers.get("Authorization"), request.query.get("X-Amz-Credential"))
        except ServiceError as err:
            return protocol.error_response(err, request_id=protocol.new_request_id())
        return await handler(request)

    return require_token
