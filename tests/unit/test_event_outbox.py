"""A state change whose event the bus did not take still reaches it: the workers' sweep republishes it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.core.event_outbox import EventOutbox, PendingEvent
from services.core.settings import Settings
from services.core.store import DocumentStore, MemoryBackend
from services.execution.worker import Worker
from services.training.models import TrainingJob
from services.training.service import TrainingService
from tests.unit.test_task_outbox import Clock
from tests.unit.test_training_service import Recorder, request


class FlakyBus(Recorder):
    """EventBridge that refuses puts while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        if self.down:
            raise ConnectionError("EventBridge did not answer")
        return await super().publish(detail_type, detail, resources)


@pytest.fixture
def parts() -> tuple[TrainingService, FlakyBus, EventOutbox, Clock]:
    clock, bus = Clock(), FlakyBus()
    outbox = EventOutbox(bus, DocumentStore(MemoryBackend(), "event-outbox", PendingEvent, "Pending event"), clock)
    service = TrainingService(DocumentStore(MemoryBackend(), "training-jobs", TrainingJob, "Training job"),
                              Recorder(), outbox, region="us-east-1", account_id="123456789012",  # type: ignore[arg-type]
                              clock=clock)
    return service, bus, outbox, clock


def _statuses(bus: FlakyBus) -> list[str]:
    return [detail["TrainingJobStatus"] for _, detail in bus.events]


async def test_an_event_the_bus_refused_is_republished_by_a_workers_sweep(parts: tuple) -> None:
    service, bus, outbox, clock = parts
    worker = Worker(Settings(visibility_timeout=30), Recorder(), [], events=outbox)  # type: ignore[arg-type]
    bus.down = True
    await service.create_training_job(request("quiet"))  # the create stands; its event did not go out
    assert _statuses(bus) == []
    bus.down = False
    assert await worker.republish_events() == 0  # not overdue yet: its publish may still be under way
    clock.now += timedelta(seconds=61)
    assert await worker.republish_events() == 1
    assert _statuses(bus) == ["InProgress"] and bus.events[0][1]["TrainingJobName"] == "quiet"
    assert await outbox.store.list() == [] and await worker.republish_events() == 0  # once


async def test_a_published_event_leaves_no_record(parts: tuple) -> None:
    service, bus, outbox, _ = parts
    await service.create_training_job(request("loud"))
    assert _statuses(bus) == ["InProgress"] and await outbox.store.list() == []


async def test_a_sweep_while_the_bus_is_still_down_keeps_the_records(parts: tuple) -> None:
    service, bus, outbox, clock = parts
    bus.down = True
    await service.create_training_job(request("a"))
    await service.create_training_job(request("b"))
    clock.now += timedelta(seconds=61)
    with pytest.raises(ConnectionError):
        await outbox.republish_overdue(timedelta(seconds=60))
    assert len(await outbox.store.list()) == 2
    bus.down = False
    assert await outbox.republish_overdue(timedelta(seconds=60)) == 2
    assert sorted(detail["TrainingJobName"] for _, detail in bus.events) == ["a", "b"]
