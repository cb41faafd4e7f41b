"""The Multi Model Server API: one inference container serving many models.

A container started with ``SAGEMAKER_MULTI_MODEL=true`` loads nothing at
start; the platform loads and unloads models by name, as SageMaker's
multi-model endpoints drive a container:

* ``GET /ping``: 200 (an empty container is healthy);
* ``POST /models`` with ``{"model_name": ..., "url": ...}``: load the model
  in directory ``url`` with the handler's ``model_fn``; 409 if that name is
  loaded, 507 if it does not fit (``model_fn`` raised ``MemoryError``),
  404 if ``url`` is not a directory, 500 if ``model_fn`` failed;
* ``GET /models`` (``?limit=&next_page_token=``): ``{"models": [{"modelName",
  "modelUrl"}], "nextPageToken"}``;
* ``GET /models/<name>``: ``{"modelName", "modelUrl"}``; 404 if not loaded;
* ``DELETE /models/<name>``: unload; 404 if not loaded;
* ``POST /models/<name>/invoke``: as ``POST /invocations``, with that model.

Each loaded model keeps its own ``model_fn`` result and is served by the
container's own :class:`~containers.common.serving.InferenceHandler` hooks;
a container opts in with ``InferenceHandler(multi_model=True)``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote

from containers.common.serving import INLINE_BYTES, InferenceApp, InferenceHandler
from containers.shared.http_server import Request, Response

MULTI_MODEL_ENV = "SAGEMAKER_MULTI_MODEL"
DEFAULT_PAGE = 100


def multi_model_enabled() -> bool:
    """True when the platform started this container for a multi-model endpoint."""
    return (os.environ.get(MULTI_MODEL_ENV) or "").strip().lower() == "true"


def _error(status: int, kind: str, message: str) -> Response:
    """An error in the Multi Model Server's JSON shape."""
    return Response(status, json.dumps({"code": status, "type": kind, "message": message}).encode(),
                    "application/json")


def _ok(payload: object) -> Response:
    return Response(200, json.dumps(payload).encode(), "application/json")


@dataclass
class LoadedModel:
    """One model the container holds: its name, where it was loaded from, and its server."""

    name: str
    url: str
    app: InferenceApp

    def describe(self) -> dict[str, str]:
        """``{"modelName", "modelUrl"}``, as ``GET /models`` lists it."""
        return {"modelName": self.name, "modelUrl": self.url}


class MultiModelApp:
    """Routes the Multi Model Server API to a handler and the models loaded into it."""

    def __init__(self, handler: InferenceHandler) -> None:
        self.handler = handler
        self.models: dict[str, LoadedModel] = {}
        self._loading: set[str] = set()

    def __call__(self, request: Request) -> Response | asyncio.Future[Response]:
        path = request.path.rstrip("/")
        if path == "/ping":
            return Response(200, b"", "application/json")
        if path == "/models":
            if request.method == "GET":
                return self.list(request.query)
            if request.method == "POST":
                return asyncio.ensure_future(self.load(request.body))
            return Response(405, b"use GET or POST /models")
        parts = path.split("/")
        if len(parts) in (3, 4) and parts[1] == "models" and parts[2]:
            name = unquote(parts[2])
            if len(parts) == 4:
                if parts[3] != "invoke" or request.method != "POST":
                    return Response(405, b"use POST /models/<name>/invoke")
                return self.invoke(name, request)
            if request.method == "GET":
                found = self.models.get(name)
                return _ok(found.describe()) if found else self._missing(name)
            if request.method == "DELETE":
                return self.unload(name)
            return Response(405, b"use GET or DELETE /models/<name>")
        if path == "/invocations":
            return _error(400, "BadRequestException", "This container serves a multi-model endpoint: "
                          "invoke a loaded model with POST /models/<name>/invoke.")
        return Response(404, f"no route {request.method} {request.path}".encode())

    def list(self, query: str) -> Response:
        """``GET /models``: the loaded models, a page at a time."""
        args = parse_qs(query)
        try:
            limit = int(args.get("limit", [DEFAULT_PAGE])[0])
            start = int(args.get("next_page_token", ["0"])[0] or 0)
        except ValueError:
            return _error(400, "BadRequestException", "limit and next_page_token must be integers.")
        if limit < 1 or start < 0:
            return _error(400, "BadRequestException", "limit must be positive and next_page_token not negative.")
        loaded = list(self.models.values())
        page: dict[str, object] = {"models": [m.describe() for m in loaded[start:start + limit]]}
        if start + limit < len(loaded):
            page["nextPageToken"] = str(start + limit)
        return _ok(page)

    async def load(self, body: bytes) -> Response:
        """``POST /models``: run ``model_fn`` on ``url`` (in a thread: ``/ping`` keeps answering)."""
        try:
            spec = json.loads(body or b"{}")
            name, url = spec["model_name"], spec["url"]
            if not isinstance(name, str) or not isinstance(url, str) or not name or not url:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _error(400, "BadRequestException", 'Send {"model_name": "<name>", "url": "<model directory>"} '
                          "as JSON.")
        if name in self.models or name in self._loading:
            return _error(409, "ConflictStatusException", f"Model {name} is already loaded.")
        if not Path(url).is_dir():
            return _error(404, "ModelNotFoundException", f"Model directory {url} does not exist.")
        self._loading.add(name)
        try:
            model = await asyncio.get_running_loop().run_in_executor(None, self.handler.model_fn, url)
        except MemoryError:
            return _error(507, "InsufficientMemoryException", f"Not enough memory to load model {name}.")
        except Exception as err:  # noqa: BLE001 - reported to the platform, the other models keep serving
            traceback.print_exc(file=sys.stderr)
            return _error(500, "ModelLoadException", f"Model {name} could not be loaded: {type(err).__name__}: "
                          f"{err}")
        finally:
            self._loading.discard(name)
        self.models[name] = LoadedModel(name, url, InferenceApp(self.handler, model))
        print(f"Loaded model {name} from {url}", flush=True)
        return _ok({"status": f"Model {name} loaded."})

    def unload(self, name: str) -> Response:
        """``DELETE /models/<name>``: drop the model (requests already running keep their reference)."""
        if self.models.pop(name, None) is None:
            return self._missing(name)
        print(f"Unloaded model {name}", flush=True)
        return _ok({"status": f"Model {name} unloaded."})

    def invoke(self, name: str, request: Request) -> Response | asyncio.Future[Response]:
        """``POST /models/<name>/invoke``: the model's hooks answer, as ``/invocations`` would."""
        found = self.models.get(name)
        if found is None:
            return self._missing(name)
        if len(request.body) > INLINE_BYTES:
            return asyncio.get_running_loop().run_in_executor(None, found.app.invoke, request)
        return found.app.invoke(request)

    @staticmethod
    def _missing(name: str) -> Response:
        return _error(404, "ModelNotFoundException", f"Model {name} is not loaded.")
