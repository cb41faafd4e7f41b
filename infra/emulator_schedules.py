"""Scheduled rules of the embedded emulator, fired on Headwater's clock (moto fires none).

Every tick (a second) the enabled rules with a ``ScheduleExpression`` on
every bus are read from the emulator's memory and each one that is due gets
EventBridge's ``Scheduled Event`` (``source`` ``aws.events``, ``resources``
the rule's ARN, ``detail`` ``{}``), delivered to all its targets:
functions through :mod:`infra.emulator_events`, queues and the rest by
moto. A rule's first firing is one period after the node first sees it
(``rate``) or the expression's next time (``cron``); a new rule takes effect
at the next tick. Firing times live in memory: a schedule due while no node
runs is not caught up, as the next firing is reckoned from the node's start.
Firing happens inside the emulator's request gate, so a snapshot of its
state sees a firing whole or not at all.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from moto.events.models import Rule, events_backends

from infra.emulator_events import deliver
from infra.emulator_state.gate import RequestGate
from services.core.schedule_expressions import Schedule, parse_schedule
from services.core.ticks import run_every

log = logging.getLogger(__name__)


class EmulatorSchedules:
    """Fires the emulator's scheduled rules when they are due."""

    def __init__(self, gate: RequestGate, *, clock: Callable[[], datetime] | None = None, tick: float = 1.0) -> None:
        self.gate = gate
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.tick = tick
        self.fired: dict[str, int] = {}  # rule ARN -> firings, for tests and status
        self._next: dict[tuple[str, str], datetime] = {}  # (rule ARN, expression) -> next firing
        self._lock = threading.Lock()

    async def run(self, stop: asyncio.Event) -> None:
        """Fire due schedules every ``tick`` seconds until ``stop`` is set."""
        await run_every(self.tick, stop, lambda: asyncio.to_thread(self.fire_due), "rule schedules")

    def fire_due(self, now: datetime | None = None) -> int:
        """Fire every scheduled rule due at ``now`` (the clock's time by default); how many fired."""
        now = now or self.clock()
        fired = 0
        with self._lock:
            seen: set[tuple[str, str]] = set()
            for rule in _scheduled_rules():
                key = (rule.arn, rule.scheduled_expression)
                seen.add(key)
                try:
                    schedule: Schedule = parse_schedule(rule.scheduled_expression)
                except Exception as err:  # noqa: BLE001 - moto took it; say why it never fires
                    log.warning("rule %s: schedule %r cannot be fired: %s", rule.name, rule.scheduled_expression, err)
                    continue
                due = self._next.setdefault(key, schedule.next_after(now))
                if now < due:
                    continue
                self._next[key] = schedule.next_after(now, start=due)  # one firing for any missed in between
                if rule.state != "ENABLED":
                    continue
                self._fire(rule, due)
                fired += 1
            for key in set(self._next) - seen:  # deleted rules, or changed expressions
                del self._next[key]
        return fired

    def _fire(self, rule: Rule, due: datetime) -> None:
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                 "source": "aws.events", "account": rule.account_id, "time": due.timestamp(),
                 "region": rule.region_name, "resources": [rule.arn], "detail": {}}
        self.gate.enter()
        try:
            deliver(rule, event, scheduled=True)
        finally:
            self.gate.leave(wrote=True)
        self.fired[rule.arn] = self.fired.get(rule.arn, 0) + 1


def _scheduled_rules() -> list[Rule]:
    rules: list[Rule] = []
    for account in list(events_backends.values()):
        for backend in list(account.values()):
            for bus in list(backend.event_buses.values()):
                rules.extend(r for r in list(bus.rules.values()) if r.scheduled_expression)
    return rules
