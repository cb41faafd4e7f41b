"""A small framework for serving an AWS JSON 1.1 API (SageMaker and friends).

Register one coroutine per operation and get an aiohttp application that
speaks the protocol boto3 speaks::

    service = AwsJsonService("sagemaker", "SageMaker")

    @service.operation("DescribeTrainingJob")
    async def describe_training_job(params: dict) -> dict:
        ...

    app = service.make_app()

Every request is ``POST /`` with ``X-Amz-Target: <prefix>.<Operation>``. The
body is parsed (:mod:`services.api.protocol`) and checked against botocore's
model of the operation's input (:mod:`services.api.validation`) before the
handler runs, so handlers only ever see well-typed, constraint-satisfying
parameters. Errors map as follows:

* :class:`~services.core.exceptions.ServiceError` -> its ``code`` and ``status``;
* anything else -> ``InternalFailure`` (500), logged with its traceback,
  which is never sent to the client.

Nothing here is SageMaker-specific: ``AwsJsonService("application-autoscaling",
"AnyScaleFrontendService")`` serves Application Auto Scaling the same way.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web
from botocore.model import ServiceModel
from pydantic import BaseModel

from services.api import protocol
from services.api.validation import load_service_model, validate_input
from services.core.exceptions import InternalFailure, ServiceError, UnknownOperationException

__all__ = ["AwsJsonService", "Handler", "SERVICE_KEY"]

logger = logging.getLogger(__name__)

#: What a handler may return: the output members as a dict or pydantic model
#: (``None`` is an empty output).
HandlerResult = Mapping[str, Any] | BaseModel | None
Handler = Callable[[dict[str, Any]], Awaitable[HandlerResult]]
H = TypeVar("H", bound=Handler)

#: Where :meth:`AwsJsonService.make_app` stores the service on its application.
SERVICE_KEY: web.AppKey[AwsJsonService] = web.AppKey("aws_json_service")

TARGET_HEADER = "X-Amz-Target"
# AWS's own wording for an InternalFailure; the real cause stays in our logs.
INTERNAL_FAILURE_MESSAGE = (
    "The request processing has failed because of an unknown error, exception or failure."
)


class AwsJsonService:
    """One AWS JSON 1.1 service: its model, its handlers, its HTTP app.

    :param service_name: botocore's name for the service, e.g. ``"sagemaker"``;
        its model supplies operation names and input constraints.
    :param target_prefix: the ``X-Amz-Target`` prefix, e.g. ``"SageMaker"``;
        defaults to the model's ``targetPrefix``.
    :param validate: check inputs against the model before calling handlers.
    """

    def __init__(
        self, service_name: str, target_prefix: str | None = None, *, validate: bool = True
    ) -> None:
        self.service_name = service_name
        self.model: ServiceModel = load_service_model(service_name)
        self.target_prefix = target_prefix or self.model.metadata["targetPrefix"]
        self.validate = validate
        self._handlers: dict[str, Handler] = {}
        self._refuse_unknown: set[str] = set()  # operations whose unknown input members are refused

    @property
    def operations(self) -> list[str]:
        """Names of the operations with a registered handler, sorted."""
        return sorted(self._handlers)

    def operation(self, name: str, *, refuse_unknown: bool = True) -> Callable[[H], H]:
        """Decorator registering ``async def fn(params: dict)`` for operation ``name``.

        ``refuse_unknown``: an input member the service model does not know is a
        ``ValidationException`` (what boto3 says of it client-side) rather than ignored, or kept by the
        handler's models to no effect; ``False`` for an operation that must take members newer than the
        installed botocore.

        :raises ValueError: ``name`` is not an operation of the service (a
            typo caught at import time rather than at the first request), or
            it is registered twice.
        :raises TypeError: the handler is not a coroutine function.
        """
        if name not in self.model.operation_names:
            raise ValueError(f"{self.service_name} has no operation named {name!r}")

        def register(fn: H) -> H:
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(f"handler for {name} must be an async function")
            if name in self._handlers:
                raise ValueError(f"operation {name} is already registered")
            self._handlers[name] = fn
            if refuse_unknown:
                self._refuse_unknown.add(name)
            return fn

        return register

    async def invoke(self, operation: str, params: dict[str, Any]) -> Any:
        """Validate ``params``, run the handler and return its JSON-ready output.

        The same path as an HTTP request, minus HTTP: useful in-process.

        :raises ServiceError: the operation is not implemented, the input is
            invalid, or the handler raised one.
        """
        handler = self._handlers.get(operation)
        if handler is None:
            raise UnknownOperationException(self._unknown_operation_message(operation))
        if self.validate:
            validate_input(self.model, operation, params, refuse_unknown=operation in self._refuse_unknown)
        return protocol.to_jsonable(await handler(params))

    def make_app(self, *, client_max_size: int = 16 * 1024**2) -> web.Application:
        """Build the aiohttp application serving this service.

        Routes: ``POST /`` (the API), ``GET /`` and ``GET /health`` (a JSON
        summary listing the implemented operations).
        """
        app = web.Application(client_max_size=client_max_size)
        app[SERVICE_KEY] = self
        app.router.add_post("/", self._handle)
        app.router.add_get("/", self._describe)
        app.router.add_get("/health", self._describe)
        return app

    # ----------------------------------------------------------------------- http

    async def _handle(self, request: web.Request) -> web.Response:
        request_id = protocol.new_request_id()
        started = time.perf_counter()
        operation = "-"
        try:
            operation = self._operation_from_target(request.headers.get(TARGET_HEADER))
            params = protocol.decode_body(await request.read())
            response = protocol.json_response(
                await self.invoke(operation, params), request_id=request_id
            )
        except web.HTTPException:
            raise  # aiohttp's own answers, e.g. 413 for an oversized body
        except ServiceError as exc:
            response = protocol.error_response(exc, request_id=request_id)
        except Exception:
            logger.exception("%s.%s failed (request %s)", self.target_prefix, operation, request_id)
            response = protocol.error_response(
                InternalFailure(INTERNAL_FAILURE_MESSAGE), request_id=request_id
            )
        logger.debug(
            "%s.%s -> %d in %.1f ms (request %s)",
            self.target_prefix,
            operation,
            response.status,
            (time.perf_counter() - started) * 1000,
            request_id,
        )
        return response

    def _operation_from_target(self, target: str | None) -> str:
        prefix = f"{self.target_prefix}."
        if not target:
            raise UnknownOperationException(
                f"Missing {TARGET_HEADER} header; expected '{prefix}<Operation>'"
            )
        if not target.startswith(prefix) or len(target) == len(prefix):
            raise UnknownOperationException(
                f"Unknown target '{target}': this endpoint serves '{prefix}<Operation>'"
            )
        operation = target[len(prefix) :]
        if operation not in self._handlers:
            raise UnknownOperationException(self._unknown_operation_message(operation))
        return operation

    def _unknown_operation_message(self, operation: str) -> str:
        if operation in self.model.operation_names:
            return f"Operation {operation} is not implemented by this server"
        return f"Unknown operation {operation} for service {self.target_prefix}"

    async def _describe(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "service": self.service_name,
                "targetPrefix": self.target_prefix,
                "protocol": f"{self.model.metadata.get('protocol')} "
                f"{self.model.metadata.get('jsonVersion', '')}".strip(),
                "operations": self.operations,
            }
        )
