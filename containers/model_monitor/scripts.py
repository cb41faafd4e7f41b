"""User hooks: the record preprocessor and the post-analytics processor.

As in SageMaker, ``record_preprocessor_script`` names a Python file defining
``preprocess_handler(inference_record)`` (an optional ``logger`` argument is
passed when it accepts one). ``inference_record`` carries
``endpoint_input`` / ``endpoint_output`` (``data``, ``encoding``,
``observed_content_type``, ``mode``), ``event_metadata`` (``event_id``,
``inference_id``, ``inference_time``) and ``event_version``. It returns a
dict (feature name -> value), a list of values, a list of such records, or
nothing to drop the event. ``post_analytics_processor_script`` defines
``postprocess_handler()``, called once the reports are written.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from containers.model_monitor.errors import MonitorInputError
from containers.model_monitor.records import Record
from containers.shared.capture import CapturedEvent

LOG = logging.getLogger("model_monitor.scripts")


def _load(path: Path, what: str) -> ModuleType:
    if not path.is_file():
        raise MonitorInputError(f"{what} {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"headwater_user_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise MonitorInputError(f"{what} {path} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any failure is theirs to fix
        raise MonitorInputError(f"{what} {path} failed to load: {type(exc).__name__}: {exc}") from exc
    return module


def _handler(path: Path, name: str, what: str) -> Callable[..., Any]:
    handler = getattr(_load(path, what), name, None)
    if not callable(handler):
        raise MonitorInputError(f"{what} {path} defines no {name}()")
    return handler


def inference_record(event: CapturedEvent) -> SimpleNamespace:
    """The object a preprocess_handler receives."""

    def side(payload: Any) -> SimpleNamespace | None:
        if payload is None:
            return None
        return SimpleNamespace(
            data=payload.data,
            encoding=payload.encoding,
            observed_content_type=payload.observed_content_type,
            mode=payload.mode,
        )

    return SimpleNamespace(
        endpoint_input=side(event.endpoint_input),
        endpoint_output=side(event.endpoint_output),
        event_metadata=SimpleNamespace(
            event_id=event.event_id,
            inference_id=event.inference_id,
            inference_time=event.inference_time.isoformat() if event.inference_time else None,
        ),
        event_version=event.event_version,
    )


class RecordPreprocessor:
    """Calls the user's preprocess_handler on every captured event."""

    def __init__(self, path: Path) -> None:
        self._handler = _handler(path, "preprocess_handler", "record_preprocessor_script")
        self._takes_logger = "logger" in inspect.signature(self._handler).parameters

    def __call__(self, event: CapturedEvent) -> list[Record]:
        record = inference_record(event)
        result = self._handler(record, logger=LOG) if self._takes_logger else self._handler(record)
        if result is None:
            return []
        if isinstance(result, dict):
            return [result]
        if isinstance(result, list) and result and all(isinstance(r, (dict, list)) for r in result):
            return list(result)
        if isinstance(result, list):
            return [result] if result else []
        raise ValueError(f"preprocess_handler returned {type(result).__name__}, not a dict or a list")


def run_post_processor(path: Path) -> None:
    """Call the user's postprocess_handler()."""
    handler = _handler(path, "postprocess_handler", "post_analytics_processor_script")
    try:
        handler()
    except Exception as exc:
        raise MonitorInputError(f"postprocess_handler failed: {type(exc).__name__}: {exc}") from exc
