"""Waking a tuning job's orchestrator when one of its trials changes state.

The orchestrator of a tuning job (:mod:`services.tuning.run`) sleeps between
its rounds; a trial's "SageMaker Training Job State Change" event reaches the
``advance-tuning-on-trial`` handler, which wakes the run of that tuning job
if it runs in this process, so a trial that ends starts the next at once. A
stop request made through this process's :class:`TuningService` wakes it too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ARN_MARKER = ":hyper-parameter-tuning-job/"


def tuning_job_of(detail: dict[str, Any]) -> str | None:
    """The tuning job a training job's event ``detail`` belongs to (its ``TuningJobArn``), if any."""
    arn = detail.get("TuningJobArn")
    if not isinstance(arn, str) or ARN_MARKER not in arn:
        return None
    return arn.split(ARN_MARKER, 1)[1] or None


class Wakeups:
    """The tuning jobs whose runs wait in this process, each with the event that wakes it."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Event] = {}

    @contextmanager
    def listen(self, name: str) -> Iterator[asyncio.Event]:
        """While the block runs, :meth:`wake` of ``name`` sets the event yielded (the run clears it)."""
        event = self._waiting[name] = asyncio.Event()
        try:
            yield event
        finally:
            if self._waiting.get(name) is event:
                del self._waiting[name]

    def wake(self, name: str) -> bool:
        """Wake the run of tuning job ``name``; False when none runs in this process."""
        event = self._waiting.get(name)
        if event is None:
            return False
        event.set()
        return True
