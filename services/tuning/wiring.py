"""The tuning executor a worker runs, built from the wired services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.tuning.intermediate import LogIntermediateSource
from services.tuning.orchestrator import TuningJobExecutor

if TYPE_CHECKING:
    from services.app import Services


def tuning_executor(services: Services, poll_seconds: float = 1.0) -> TuningJobExecutor:
    """The ``tuning`` job kind, reading children's intermediate values from CloudWatch Logs."""
    return TuningJobExecutor(services.tuning, LogIntermediateSource(services.logs), poll_seconds=poll_seconds)
