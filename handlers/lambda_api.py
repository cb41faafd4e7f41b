"""The registered handlers as Lambda functions of the node's Lambda API.

``boto3.client("lambda").invoke(FunctionName=...)`` runs a built-in handler
as it runs a user's function (:mod:`services.api.ops_lambda` serves both).
Handler errors come back as Lambda reports them: status 200,
``X-Amz-Function-Error: Unhandled`` and an ``errorMessage`` / ``errorType`` /
``stackTrace`` payload, the stack holding the function's own frames only
(none of Headwater's). An ``Event`` invocation is queued where Lambda queues
it, durably: on the function's own SQS queue, answered 202 once the queue
has it. The handler runtime then runs it as it runs the function's events,
retrying a failure and dead-lettering it with the error recorded; a node that
stops meanwhile loses nothing. ``$LATEST`` is the only version a built-in has.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from handlers.deps import Deps
from handlers.lambda_adapter import function_error, invoke, is_sqs_event
from handlers.registry import REGISTRY, load_handlers
from services.api.ops_lambda import LambdaApi
from services.core.queues import MessageQueue

log = logging.getLogger(__name__)


class BuiltinHandlers:
    """The registered handlers, as :class:`~services.functions.builtins.BuiltinFunctions`."""

    def __init__(self, deps: Deps, function_arn_prefix: str, queues: MessageQueue) -> None:
        self.deps = deps
        self.function_arn_prefix = function_arn_prefix
        self.queues = queues

    def names(self) -> list[str]:
        """Every registered handler."""
        if not REGISTRY:
            load_handlers()
        return sorted(REGISTRY)

    def configuration(self, name: str) -> dict[str, Any]:
        """A handler's ``FunctionConfiguration``."""
        spec = REGISTRY[name]
        return {"FunctionName": name, "FunctionArn": f"{self.function_arn_prefix}:{name}",
                "Runtime": "python3.11", "Handler": f"{spec.module}.lambda_handler", "Version": "$LATEST",
                "Description": spec.description, "Timeout": int(spec.timeout_seconds), "State": "Active",
                "LastUpdateStatus": "Successful", "PackageType": "Zip"}

    async def invoke(self, name: str, payload: Any) -> tuple[Any, bool]:
        """Run the handler: its result, or its error as Lambda reports it (and ``True``)."""
        spec = REGISTRY[name]
        try:
            return await invoke(spec, payload, self.deps), False
        except Exception as err:  # noqa: BLE001 - reported as Lambda reports a function error
            # The whole traceback stays in the node's log; the caller gets the function's frames only.
            log.warning("invoke %s failed: %s", name, err, exc_info=log.isEnabledFor(logging.DEBUG))
            return function_error(spec, err), True

    async def queue_event(self, name: str, payload: Any) -> None:
        """Queue an ``Event`` invocation on the handler's own queue."""
        # An SQS-shaped payload carries its messages: each is queued as the message it was.
        bodies = [r["body"] for r in payload["Records"]] if is_sqs_event(payload) else [payload]
        for body in bodies:
            await self.queues.send(self.deps.settings.queue_name(name), body)


def make_lambda_app(deps: Deps, function_arn_prefix: str, queues: MessageQueue) -> web.Application:
    """An aiohttp app serving the Lambda API over the built-in handlers alone."""
    return LambdaApi(BuiltinHandlers(deps, function_arn_prefix, queues)).service.make_app()
