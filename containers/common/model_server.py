"""The inference container's server process: the model loaded, the port served until SIGTERM.

``serve(handler)`` is the ``serve`` entrypoint of every image. One process,
or ``MODEL_SERVER_WORKERS`` processes sharing the port
(:mod:`containers.common.server_workers`), each answering with the
handler's hooks (:class:`containers.common.serving.InferenceApp`); with
``SAGEMAKER_MULTI_MODEL=true``, one process speaking the Multi Model Server
API (:mod:`containers.common.multi_model`), which loads models on demand.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

from containers.common import params
from containers.common.multi_model import MultiModelApp, multi_model_enabled
from containers.common.server_workers import WORKERS_ENV, listening_socket, run_workers, worker_count
from containers.common.serving import DEFAULT_PORT, HOST_ENV, MAX_PAYLOAD_ENV, PORT_ENV, InferenceApp, InferenceHandler
from containers.shared.http_server import HttpServer


async def serve_async(handler: InferenceHandler, *, port: int | None = None, host: str | None = None,
                      ready: Callable[[int], None] | None = None, stop: asyncio.Event | None = None,
                      sock: socket.socket | None = None, stopping: Callable[[], None] | None = None) -> None:
    """Load the model, serve until SIGTERM/SIGINT (or ``stop``), then drain in-flight requests.

    With ``SAGEMAKER_MULTI_MODEL=true`` nothing is loaded up front: the Multi
    Model Server API (:mod:`containers.common.multi_model`) loads models on demand.
    ``sock``: a listening socket shared with other workers; ``stopping()`` is
    called as the stop begins (the parent worker tells the others).
    """
    app: Any
    if multi_model_enabled():
        if not handler.multi_model:
            raise RuntimeError("This container does not support multi-model endpoints (SAGEMAKER_MULTI_MODEL=true); "
                               "deploy its models as single-model endpoints.")
        app, serving = MultiModelApp(handler), "multi-model endpoint"
    else:
        app, serving = InferenceApp(handler, handler.model_fn(str(params.model_dir()))), str(params.model_dir())
    max_body = int(float(os.environ.get(MAX_PAYLOAD_ENV) or 100) * 1024 * 1024)
    server = HttpServer(app, max_body=max_body)
    bound = await server.start(host or os.environ.get(HOST_ENV) or "127.0.0.1",
                               port if port is not None else int(os.environ.get(PORT_ENV) or DEFAULT_PORT), sock)
    print(f"Serving {serving} on port {bound}", flush=True)
    if ready is not None:
        ready(bound)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (RuntimeError, ValueError):  # not the main thread (tests embed the server)
            pass
    await stop.wait()
    if stopping is not None:
        stopping()
    print("Stopping: draining in-flight requests", flush=True)
    await server.shutdown()


def serve(handler: InferenceHandler) -> int:
    """The ``serve`` entrypoint: run until stopped; exit status 0, or 1 if the model cannot load.

    ``MODEL_SERVER_WORKERS`` (else the handler's ``default_workers``) processes
    serve the port (:mod:`containers.common.server_workers`); a multi-model
    container keeps one, whose loaded models the platform's API manages.
    """
    def serve_one(sock: socket.socket | None, stopping: Callable[[], None] | None) -> int:
        try:
            asyncio.run(serve_async(handler, sock=sock, stopping=stopping))
        except Exception as err:  # noqa: BLE001 - a model that cannot load is the container's failure
            traceback.print_exc(file=sys.stderr)
            print(f"Serving failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            return 1
        return 0

    try:
        workers = 1 if multi_model_enabled() else worker_count(handler.default_workers)
    except ValueError as err:
        print(f"Serving failed: {err}", file=sys.stderr, flush=True)
        return 1
    os.environ[WORKERS_ENV] = str(workers)  # model_fn may size its thread pools by it
    if workers == 1:
        return serve_one(None, None)
    host = os.environ.get(HOST_ENV) or "127.0.0.1"
    sock = listening_socket(host, int(os.environ.get(PORT_ENV) or DEFAULT_PORT))
    print(f"Serving with {workers} worker processes", flush=True)
    return run_workers(workers, sock, serve_one)
