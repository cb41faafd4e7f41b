"""Running a handler the way AWS Lambda calls one.

``make_lambda_handler(name)`` gives the ``lambda_handler(event, context)``
a module exports, so a handler can be deployed as a real Lambda function
(SQS event source with partial batch responses, or an EventBridge rule
target). ``invoke`` is the same path for ``headwater invoke`` and the local
Lambda Invoke API.

An SQS batch is handled as Lambda's event source mapping expects: the
function returns ``batchItemFailures`` naming the records that failed (each
one's error is logged), and the mapping deletes the others and retries
those until its queue's redrive policy dead-letters them. That needs
``FunctionResponseTypes: ["ReportBatchItemFailures"]`` on the mapping;
without it Lambda reads any return as "all done" and retries only when the
function raises. So a batch in which every record failed raises
:class:`BatchFailed`: all of it is retried either way.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import traceback
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from handlers.deps import Deps
from handlers.exceptions import BatchFailed, UnknownHandler
from handlers.registry import REGISTRY, HandlerSpec, load_handlers
from handlers.runtime import BatchResult, describe_error, run_record

log = logging.getLogger(__name__)


def find_handler(name: str) -> HandlerSpec:
    """The registered handler ``name``, or :class:`UnknownHandler`."""
    if name not in REGISTRY:
        load_handlers()
    if name not in REGISTRY:
        raise UnknownHandler(f"Function not found: {name} (handlers: {', '.join(sorted(REGISTRY)) or 'none'})")
    return REGISTRY[name]


def is_sqs_event(payload: Any) -> bool:
    """True for Lambda's SQS event source shape."""
    records = payload.get("Records") if isinstance(payload, dict) else None
    return bool(records) and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)


async def invoke(spec: HandlerSpec, payload: Any, deps: Deps) -> dict[str, Any]:
    """Run ``spec`` on a Lambda-style payload.

    An SQS event returns ``batchItemFailures`` (each record succeeds or fails
    alone, and each failure is logged with its error), or raises
    :class:`BatchFailed` when every record failed; any other payload is
    parsed as one message body and errors raise.
    """
    if is_sqs_event(payload):
        result = await run_batch(spec, payload["Records"], deps)
        if result.failed_ids and len(result.failed_ids) == len(payload["Records"]):
            raise BatchFailed(f"all {len(result.failed_ids)} records of the batch failed: "
                              + "; ".join(f"{i}: {e}" for i, e in result.errors.items()))
        return result.as_lambda_response()
    handled = await run_record(spec, payload, deps)
    return {"handled": handled}


async def run_batch(spec: HandlerSpec, records: list[dict[str, Any]], deps: Deps) -> BatchResult:
    """Run ``spec`` on every record of an SQS batch, each on its own; the failed ones and their errors."""
    result = BatchResult([])
    for record in records:
        try:
            await run_record(spec, record["body"], deps)
        except Exception as err:  # noqa: BLE001 - reported per record, as Lambda expects
            error = describe_error(err)
            result.failed_ids.append(record["messageId"])
            result.errors[record["messageId"]] = error
            # The function's log (CloudWatch Logs on Lambda) is where a record's error can be read.
            log.error("handler %s failed on record %s of %d: %s", spec.name, record["messageId"], len(records),
                      error)
    return result


# Headwater's own code: a frame in it is never the function's (unless it is the function's own file).
_PLATFORM_DIRS = tuple(str(Path(__file__).resolve().parent.parent / package) + os.sep
                       for package in ("handlers", "services", "infra", "containers"))


def function_stack_trace(func: Callable[..., Any], err: BaseException) -> list[str]:
    """``err``'s frames from ``func``'s own code down, formatted as Lambda's runtime formats a ``stackTrace``.

    Lambda leaves out the runtime that called the function; so does this, and it stops at the first
    frame of Headwater's own code below the function (a service it called): what is behind that is
    the platform's, not the caller's to see. An error raised before the function ran has no frames.
    """
    code = getattr(inspect.unwrap(func), "__code__", None)
    if code is None:
        return []
    own = os.path.realpath(code.co_filename)
    frames = traceback.extract_tb(err.__traceback__)
    start = next((i for i, f in enumerate(frames) if os.path.realpath(f.filename) == own), None)
    if start is None:
        return []
    kept: list[traceback.FrameSummary] = []
    for frame in frames[start:]:
        path = os.path.realpath(frame.filename)
        if path != own and path.startswith(_PLATFORM_DIRS):
            break
        kept.append(frame)
    return traceback.format_list(kept)


def function_error(spec: HandlerSpec, err: BaseException) -> dict[str, Any]:
    """The payload Lambda answers for a function that raised ``err``."""
    return {"errorMessage": str(err), "errorType": type(err).__name__,
            "stackTrace": function_stack_trace(spec.func, err)}


DEPS_ENTRY_POINTS = "headwater.handler_deps"


def deps_factory() -> Callable[[], AbstractAsyncContextManager[Deps]]:
    """What builds a handler's :class:`Deps` outside a node: the composition root the installed
    distribution names under the ``headwater.handler_deps`` entry point.

    Handlers sit below the code that wires services together, so they find it
    by name, as a plugin host finds its plugins, rather than by import.
    """
    found = sorted(entry_points(group=DEPS_ENTRY_POINTS), key=lambda ep: ep.name)
    if not found:
        raise RuntimeError(f"no {DEPS_ENTRY_POINTS!r} entry point is installed: install the headwater distribution "
                           f"(pip install headwater) where this handler runs")
    return found[0].load()


async def _invoke_fresh(name: str, payload: Any) -> dict[str, Any]:
    async with deps_factory()() as deps:
        return await invoke(find_handler(name), payload, deps)


def make_lambda_handler(name: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The ``lambda_handler(event, context)`` entry point of handler ``name``."""

    def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        return asyncio.run(_invoke_fresh(name, event))

    lambda_handler.__doc__ = f"AWS Lambda entry point of the {name!r} handler."
    return lambda_handler
