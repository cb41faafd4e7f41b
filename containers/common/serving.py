"""The SageMaker inference container contract, with the inference toolkit's hooks.

A container started as ``<image> serve`` loads its model from
``<base>/model`` (``SAGEMAKER_BASE_DIR``, ``/opt/ml`` by default) and
answers on ``SAGEMAKER_BIND_TO_PORT`` (8080 by default):

* ``GET /ping``: 200 once the model is loaded (the platform's health check);
* ``POST /invocations``: the body in ``Content-Type``, the answer in the
  first supported type of ``Accept`` (``*/*`` or none: the handler's
  default). ``X-Amzn-SageMaker-Custom-Attributes`` reaches the hooks and
  is echoed back;
* ``GET /execution-parameters``: what batch transform may send at once.

An algorithm supplies an :class:`InferenceHandler` with the toolkit's hooks
``model_fn(model_dir)``, ``input_fn(body, content_type)``,
``predict_fn(data, model)`` and ``output_fn(prediction, accept)``. A hook
raising :class:`BadInput` (or a leaf) answers 4xx with its message; the
server keeps serving. Anything else answers 500 with the error's type and
message. Small payloads are answered on the event loop (a thread hop costs
more than a 1-row prediction); large ones in a thread, so ``/ping`` stays
responsive during a big batch, unless several worker processes serve
(``MODEL_SERVER_WORKERS``, :mod:`containers.common.server_workers`).

The server process (one or several workers, single- or multi-model) is
:mod:`containers.common.model_server`'s.

Extensions for running beside other servers on one host:
``SAGEMAKER_BIND_HOST`` (default ``127.0.0.1``; ``0.0.0.0`` under bridge
networking) and ``SAGEMAKER_MAX_PAYLOAD_IN_MB`` (default 100).
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from containers.common.server_workers import worker_count
from containers.shared.http_server import Request, Response

PORT_ENV = "SAGEMAKER_BIND_TO_PORT"
HOST_ENV = "SAGEMAKER_BIND_HOST"
MAX_PAYLOAD_ENV = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
DEFAULT_PORT = 8080
CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
# Bodies up to this size are predicted on the event loop; larger ones in a thread.
INLINE_BYTES = 64 * 1024


class BadInput(Exception):
    """The request cannot be answered as sent (HTTP 400); the message says why."""

    status = 400


class UnsupportedContentType(BadInput):
    """The ``Content-Type`` is not one the handler reads (HTTP 415)."""

    status = 415


class UnsupportedAccept(BadInput):
    """No type in ``Accept`` is one the handler writes (HTTP 406)."""

    status = 406


def media_type(header: str | None) -> str:
    """``"text/csv; charset=utf-8"`` -> ``"text/csv"``; empty for none."""
    return (header or "").split(";", 1)[0].strip().lower()


@dataclass
class InferenceHandler:
    """The four hooks and the content types they speak."""

    model_fn: Callable[[str], Any]
    input_fn: Callable[[bytes, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], bytes | str]
    content_types: tuple[str, ...] = ("application/json",)
    accepts: tuple[str, ...] = ("application/json",)
    # Accept for requests without one; None: answer in the request's own type if writable.
    default_accept: str | None = None
    execution_parameters: dict[str, Any] = field(
        default_factory=lambda: {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6})
    # The container serves multi-model endpoints (containers.common.multi_model) with these hooks.
    multi_model: bool = False
    # Serving processes when MODEL_SERVER_WORKERS is not set (containers.common.server_workers).
    default_workers: int = 1
    # Pass Accept's parameters on to output_fn ("application/json; verbose=true", as k-NN reads them);
    # output_fn then returns (body, media type).
    accept_parameters: bool = False

    def choose_accept(self, accept: str | None, content_type: str) -> str:
        """The response type for an ``Accept`` header (first writable, no q-weighting)."""
        parts = [part.strip() for part in (accept or "").split(",") if part.strip()]
        wanted = [media_type(part) for part in parts]
        for media, part in zip(wanted, parts):
            if media in self.accepts:
                return part if self.accept_parameters else media
        if not wanted or any(m in ("*/*", "") for m in wanted):
            if self.default_accept:
                return self.default_accept
            return content_type if content_type in self.accepts else self.accepts[0]
        raise UnsupportedAccept(f"Accept {accept!r} is not supported; this model answers in "
                                f"{', '.join(self.accepts)}.")

    def transform(self, model: Any, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        """``input_fn`` -> ``predict_fn`` -> ``output_fn``; the encoded answer and its type."""
        if content_type not in self.content_types:
            raise UnsupportedContentType(f"Content type {content_type or '(none)'!r} is not supported; "
                                         f"send one of {', '.join(self.content_types)}.")
        result = self.output_fn(self.predict_fn(self.input_fn(body, content_type), model), accept)
        if isinstance(result, tuple):  # (body, content type), as the toolkit allows
            data, accept = result
        else:
            data = result
        return (data.encode("utf-8") if isinstance(data, str) else bytes(data)), accept


class InferenceApp:
    """Routes the contract's requests to a handler and its loaded model."""

    def __init__(self, handler: InferenceHandler, model: Any) -> None:
        self.handler = handler
        self.model = model
        # A lone server answers large requests in a thread so /ping stays responsive. One of
        # several answers them on its loop: busy, it accepts no new connection, and the kernel
        # hands the next one to an idle worker (a thread would let one process take them all).
        self.threaded = worker_count() == 1

    def __call__(self, request: Request) -> Response | asyncio.Future[Response]:
        if request.path == "/invocations":
            if request.method != "POST":
                return Response(405, b"use POST /invocations")
            if self.threaded and len(request.body) > INLINE_BYTES:
                return asyncio.get_running_loop().run_in_executor(None, self.invoke, request)
            return self.invoke(request)
        if request.path == "/ping":
            return Response(200, b"", "application/json")
        if request.path == "/execution-parameters":
            return Response(200, json.dumps(self.handler.execution_parameters).encode(), "application/json")
        return Response(404, f"no route {request.method} {request.path}".encode())

    def invoke(self, request: Request) -> Response:
        """Answer one ``POST /invocations``."""
        headers = {}
        if CUSTOM_ATTRIBUTES in request.headers:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = request.headers[CUSTOM_ATTRIBUTES]
        try:
            content_type = media_type(request.headers.get("content-type"))
            accept = self.handler.choose_accept(request.headers.get("accept"), content_type)
            body, answered_as = self.handler.transform(self.model, request.body, content_type, accept)
        except BadInput as err:
            return Response(err.status, str(err).encode("utf-8"), headers=headers)
        except Exception as err:  # noqa: BLE001 - reported to the caller, the server keeps serving
            traceback.print_exc(file=sys.stderr)
            return Response(500, f"{type(err).__name__}: {err}".encode("utf-8"), headers=headers)
        return Response(200, body, answered_as, headers)
