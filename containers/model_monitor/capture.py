"""Reading SageMaker data-capture files for a monitoring window.

Every ``.jsonl`` file under the dataset source (the endpoint's folder when
present) is read line by line in the data-capture format
(:mod:`containers.shared.capture`). The platform may hand over more hours
than the window, so events are filtered on ``inferenceTime`` (``start_time``
inclusive, ``end_time`` exclusive).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from containers.model_monitor.errors import LineErrors, MonitorInputError
from containers.shared.capture import CapturedEvent, CaptureLineError, parse_line


def capture_files(source: Path, endpoint_name: str | None) -> list[Path]:
    """The ``.jsonl`` capture files under ``source`` (the endpoint's folder when present)."""
    if not source.exists():
        raise MonitorInputError(f"dataset_source {source} does not exist")
    root = source / endpoint_name if endpoint_name and (source / endpoint_name).is_dir() else source
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.jsonl") if p.is_file())


def in_window(event: CapturedEvent, start: datetime | None, end: datetime | None) -> bool:
    """Whether the event belongs to ``[start, end)`` (no time: always)."""
    if event.inference_time is None:
        return True
    if start is not None and event.inference_time < start:
        return False
    return not (end is not None and event.inference_time >= end)


def read_capture(
    source: Path, endpoint_name: str | None, start: datetime | None, end: datetime | None, errors: LineErrors
) -> list[CapturedEvent]:
    """Every captured event of the window; bad lines go to ``errors``."""
    events: list[CapturedEvent] = []
    for path in capture_files(source, endpoint_name):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    event = parse_line(line, str(path), number)
                except CaptureLineError as exc:
                    errors.add(str(path), number, str(exc))
                    continue
                if in_window(event, start, end):
                    events.append(event)
    return events
