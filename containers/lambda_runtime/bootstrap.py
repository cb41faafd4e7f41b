"""A Python function's runtime client: import the handler once, then serve invocations over the Runtime API.

Started as ``python bootstrap.py`` with Lambda's environment (``_HANDLER``,
``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_RUNTIME_API``, ``AWS_LAMBDA_FUNCTION_*``).
What it does follows AWS's Python runtime interface client:

* init: the task root first on ``sys.path``, the handler's module imported
  (``module.function``, ``folder/module.function``); a failure is posted to
  ``/runtime/init/error`` as ``Runtime.ImportModuleError`` (or
  ``Runtime.UserCodeSyntaxError``, ``Runtime.HandlerNotFound``,
  ``Runtime.MalformedHandlerName``) and the process exits;
* then, forever: ``GET /runtime/invocation/next``, call
  ``handler(event, context)`` (a coroutine function runs on one event loop
  kept for the life of the environment), post the result to ``.../response``
  or the error (``errorMessage``, ``errorType``, ``stackTrace`` of the
  function's own frames) to ``.../error``.

Running out of memory (``MemoryError``) ends the process as the kernel would
(SIGKILL), after saying so on the log fence, so the node reports
``Runtime.OutOfMemory``. Imports the standard library only.
"""

from __future__ import annotations

import asyncio
import decimal
import http.client
import importlib
import inspect
import json
import logging
import os
import signal
import sys
import time
import traceback
from typing import Any

API_VERSION = "2018-06-01"
# A line on stdout that tells the node this invocation's output is complete (the node reads the output
# and the Runtime API on two channels). Its token comes from the node and is hidden from the function.
_FENCE = os.environ.pop("_LAMBDA_LOG_FENCE", "")
_BOOTSTRAP = os.path.realpath(__file__)


class LambdaContext:
    """The ``context`` a handler gets, with the members Lambda's Python runtime gives it."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str,
                 client_context: Any = None, identity: Any = None) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        # A string, as Lambda's runtime reads it from the environment.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.client_context = client_context
        self.identity = identity
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout ends the invocation."""
        return max(self._deadline_ms - int(time.time() * 1000), 0)


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


_REQUEST_ID = _RequestIdFilter()


def _configure_logging() -> None:
    # Lambda's Python runtime: a root handler writing "[LEVEL]\t<time>\t<request id>\t<message>" to the log.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t"
                                           "%(message)s", "%Y-%m-%dT%H:%M:%S"))
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(_REQUEST_ID)
    logging.getLogger().addHandler(handler)


class RuntimeApi:
    """The Runtime API over one kept-alive HTTP connection."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.conn = http.client.HTTPConnection(self.host, self.port)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
        url = f"/{API_VERSION}/runtime/{path}"
        for attempt in (1, 2):
            try:
                self.conn.request(method, url, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                return resp, resp.read()
            except (ConnectionError, http.client.HTTPException):
                if attempt == 2:
                    raise
                self.conn.close()  # a kept-alive connection the node closed: open a new one
                self.conn = http.client.HTTPConnection(self.host, self.port)
        raise AssertionError("unreachable")

    def post_json(self, path: str, doc: Any, headers: dict[str, str] | None = None) -> None:
        self.request("POST", path, json.dumps(doc).encode(), {"Content-Type": "application/json", **(headers or {})})


def _stack(tb: Any) -> list[str]:
    """The function's own frames of ``tb`` (the runtime's left out), formatted as Lambda formats them."""
    frames = [f for f in traceback.extract_tb(tb) if os.path.realpath(f.filename) != _BOOTSTRAP]
    return traceback.format_list(frames)


def _error_doc(err: BaseException, error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
    return {"errorMessage": str(err) if message is None else message,
            "errorType": error_type or type(err).__name__, "requestId": _REQUEST_ID.request_id,
            "stackTrace": _stack(err.__traceback__)}


def _log_error(doc: dict[str, Any]) -> None:
    # Lambda writes a failed invocation's error to the function's log.
    lines = [f"[ERROR] {doc['errorType']}: {doc['errorMessage']}"]
    if doc["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(s.rstrip("\n") for s in doc["stackTrace"])
    print("\n".join(lines), flush=True)


def _fence(what: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    if _FENCE:
        os.write(1, f"{_FENCE} {what}\n".encode())


def _out_of_memory() -> None:
    """End as the kernel's OOM killer would, having told the node why."""
    try:
        _fence("OOM")
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


def load_handler(spec: str) -> Any:
    """The handler function ``spec`` names; raises ``_InitError`` as Lambda's runtime reports it."""
    try:
        module_path, function = spec.rsplit(".", 1)
    except ValueError:
        raise _InitError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack "
                                                         f"(expected 2, got 1)") from None
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except MemoryError:
        _out_of_memory()
        raise
    except SyntaxError as err:
        raise _InitError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {err}") from err
    except Exception as err:  # noqa: BLE001 - anything the module raised while it was imported
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {err}") from err
    handler = getattr(module, function, None)
    if handler is None:
        raise _InitError("Runtime.HandlerNotFound", f"Handler '{function}' missing on module '{module_name}'")
    return handler


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value) if value % 1 else int(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def serve(api: RuntimeApi, handler: Any) -> None:
    """Serve invocations until the node ends this process."""
    loop = asyncio.new_event_loop() if inspect.iscoroutinefunction(handler) else None
    while True:
        resp, body = api.request("GET", "invocation/next")
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id", "")
        _REQUEST_ID.request_id = request_id
        context = LambdaContext(request_id, int(resp.getheader("Lambda-Runtime-Deadline-Ms", "0")),
                                resp.getheader("Lambda-Runtime-Invoked-Function-Arn", ""),
                                _optional_json(resp.getheader("Lambda-Runtime-Client-Context")),
                                _optional_json(resp.getheader("Lambda-Runtime-Cognito-Identity")))
        if trace := resp.getheader("Lambda-Runtime-Trace-Id"):
            os.environ["_X_AMZN_TRACE_ID"] = trace
        try:
            event = json.loads(body) if body else None
            result = handler(event, context)
            if inspect.isawaitable(result):
                result = (loop or asyncio.new_event_loop()).run_until_complete(result)
            try:
                data = json.dumps(result, default=_json_default).encode()
            except (TypeError, ValueError) as err:
                raise _MarshalError(f"Unable to marshal response: {err}") from None
        except MemoryError:
            _out_of_memory()
            raise
        except _MarshalError as err:
            doc = {"errorMessage": str(err), "errorType": "Runtime.MarshalError", "requestId": request_id,
                   "stackTrace": []}
            _log_error(doc)
            _fence(request_id)
            api.post_json(f"invocation/{request_id}/error", doc,
                          {"Lambda-Runtime-Function-Error-Type": "Runtime.MarshalError"})
            continue
        except Exception as err:  # noqa: BLE001 - the function's error, reported as Lambda reports it
            doc = _error_doc(err)
            _log_error(doc)
            _fence(request_id)
            api.post_json(f"invocation/{request_id}/error", doc,
                          {"Lambda-Runtime-Function-Error-Type": f"Unhandled.{doc['errorType']}"})
            continue
        _fence(request_id)
        api.request("POST", f"invocation/{request_id}/response", data, {"Content-Type": "application/json"})


class _MarshalError(Exception):
    pass


def _optional_json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def main() -> None:
    """Init, then serve."""
    # The function's code comes first, as /var/task does on Lambda; this runtime's own folder not at all.
    here = os.path.dirname(_BOOTSTRAP)
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    _configure_logging()
    api = RuntimeApi(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except _InitError as err:
        doc = {"errorMessage": str(err), "errorType": err.error_type, "requestId": "",
               "stackTrace": _stack(err.__cause__.__traceback__) if err.__cause__ else []}
        _log_error(doc)
        _fence("INIT")
        api.post_json("init/error", doc, {"Lambda-Runtime-Function-Error-Type": err.error_type})
        sys.exit(1)
    serve(api, handler)


if __name__ == "__main__":
    main()
