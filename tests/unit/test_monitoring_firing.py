"""One schedule whose firing fails does not keep the node's clock from firing the others."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from services.core.store import DocumentStore, MemoryBackend
from services.monitoring.models import JobDefinition, MonitoringExecution, MonitoringSchedule
from services.monitoring.service import MonitoringService

NOW = datetime(2026, 3, 1, 12, 0, 5, tzinfo=timezone.utc)


def _schedule(name: str) -> MonitoringSchedule:
    created = NOW - timedelta(days=1)
    return MonitoringSchedule(
        name=name, arn=f"arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{name}",
        config={"ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}, "MonitoringJobDefinitionName": "d"},
        endpoint_name="ep", creation_time=created, last_modified_time=created, next_run=NOW.replace(second=0))


async def test_a_schedule_whose_firing_fails_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    schedules = DocumentStore(MemoryBackend(), "s", MonitoringSchedule, "Monitoring schedule")
    service = MonitoringService(DocumentStore(MemoryBackend(), "d", JobDefinition, "Job definition"), schedules,
                                DocumentStore(MemoryBackend(), "e", MonitoringExecution, "Monitoring execution"),
                                None, None, None, None, region="us-east-1", account_id="123456789012",  # type: ignore[arg-type]
                                clock=lambda: NOW)
    for name in ("a-broken", "b-fine"):
        await schedules.create(name, _schedule(name))
    ran: list[str] = []

    async def run_execution(name: str, scheduled: datetime | None = None, **_: Any) -> Any:
        if name == "a-broken":
            raise ConnectionError("the state store did not answer")
        ran.append(name)
        return name

    service.run_execution = run_execution  # type: ignore[method-assign]
    fired = await service.fire_due()
    assert fired == ["b-fine"] and ran == ["b-fine"]
    assert "a-broken" in caplog.text and "the state store did not answer" in caplog.text
