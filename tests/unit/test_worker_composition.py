"""How a worker's tuning jobs are woken depends on whether its process runs the handlers."""

from __future__ import annotations

from unittest.mock import MagicMock

from infra.composition.workers import STANDALONE_TUNING_SWEEP_SECONDS, TUNING_SWEEP_SECONDS, build_worker
from services.core.settings import Settings
from services.tuning.executor import TuningJobExecutor


def _tuning(runs_handlers: bool) -> TuningJobExecutor:
    services = MagicMock()
    services.settings = Settings(runner="process")
    worker = build_worker(services, runs_handlers=runs_handlers)
    [executor] = [e for e in worker.executors.values() if isinstance(e, TuningJobExecutor)]
    return executor


def test_a_node_s_tuning_jobs_wait_for_their_trials_events() -> None:
    assert _tuning(runs_handlers=True).sweep_seconds == TUNING_SWEEP_SECONDS


def test_a_worker_without_handlers_looks_at_its_trials_every_second() -> None:
    """No handler wakes a tuning job in ``headwater worker``: a 15 s safety sweep would be its pace."""
    assert _tuning(runs_handlers=False).sweep_seconds == STANDALONE_TUNING_SWEEP_SECONDS == 1.0
