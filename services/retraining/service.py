"""Retraining policies and runs: the chain's state, and its guard rails.

Every step of the chain is a handler reacting to an event; this service is
what they share. Claiming a run is one conditional write on the endpoint's
policy, so duplicate or concurrent drift events start at most one run
(debounce: a run in flight suppresses new ones; cool-down: none starts
within ``CooldownSeconds`` of the last one's end). Each change of a run's
status publishes "Headwater Retraining Run State Change" with the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.core.events import Publisher, publish_state_change
from services.core.exceptions import ResourceInUse, ResourceNotFound, ValidationException
from services.core.store import DocumentStore
from services.core.times import utcnow
from services.retraining.models import RetrainingPolicy, RetrainingRun, RunStatus

log = logging.getLogger(__name__)

DETAIL_TYPE = "Headwater Retraining Run State Change"
#: Every resource a run creates is named ``retrain-...``, so the chain's rules can match on the prefix.
RUN_PREFIX = "retrain-"


def run_name_for(endpoint: str, trigger_key: str) -> str:
    """A deterministic run (and training job) name: the same trigger always names the same run."""
    digest = hashlib.sha256(f"{endpoint}/{trigger_key}".encode()).hexdigest()[:10]
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", endpoint).strip("-")[:30] or "endpoint"
    return f"{RUN_PREFIX}{stem}-{digest}"


@dataclass(frozen=True)
class Claim:
    """The outcome of asking to start a run."""

    started: bool  # this caller owns the new run
    reason: str  # why not, or "claimed" / "already claimed by this trigger"


class RetrainingService:
    """Policies, runs and the lock between them."""

    def __init__(self, policies: DocumentStore[RetrainingPolicy], runs: DocumentStore[RetrainingRun],
                 publisher: Publisher, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.policies = policies
        self.runs = runs
        self.publisher = publisher
        self.clock = clock
        # Set when a run takes an endpoint's lock through this node: the watchdog, at rest while no run
        # holds one, wakes for it.
        self.changed = asyncio.Event()
        self._active = True  # until the first sweep of every policy says otherwise

    @property
    def has_active_runs(self) -> bool:
        """Whether the last sweep of every policy (:meth:`expire_overdue_runs`) saw a run holding a lock."""
        return self._active

    # --- policies ---------------------------------------------------------------------

    async def put_policy(self, policy: RetrainingPolicy) -> RetrainingPolicy:
        """Create or replace an endpoint's policy, keeping the chain's state (lock, serving version)."""
        try:
            return await self.policies.create(policy.endpoint_name, policy)
        except ResourceInUse:
            pass

        def replace(old: RetrainingPolicy) -> RetrainingPolicy:
            return policy.model_copy(update={"active_run": old.active_run, "last_run_end": old.last_run_end,
                                             "serving_package_arn": old.serving_package_arn,
                                             "serving_since": old.serving_since})

        return (await self.policies.update(policy.endpoint_name, replace))[1]

    async def get_policy(self, endpoint: str) -> RetrainingPolicy | None:
        """The endpoint's policy, or ``None`` when it is not under retraining."""
        return await self.policies.get(endpoint)

    async def list_policies(self) -> list[RetrainingPolicy]:
        """Every policy, by endpoint name."""
        return sorted(await self.policies.list(), key=lambda p: p.endpoint_name)

    async def policies_for_group(self, group: str) -> list[RetrainingPolicy]:
        """Policies whose endpoint serves versions of ``group``."""
        return [p for p in await self.list_policies() if p.model_package_group_name == group]

    async def delete_policy(self, endpoint: str) -> None:
        """Take an endpoint out of the chain (its runs are kept)."""
        if await self.policies.get(endpoint) is None:
            raise ValidationException(f"No retraining policy for endpoint {endpoint}")
        await self.policies.delete(endpoint)

    async def set_serving(self, endpoint: str, package_arn: str) -> None:
        """Record the version an endpoint serves (its lineage is what the next run retrains)."""
        now = self.clock()
        await self.policies.update(endpoint, lambda p: p.model_copy(
            update={"serving_package_arn": package_arn, "serving_since": now}))

    # --- runs -------------------------------------------------------------------------

    async def claim(self, endpoint: str, run_name: str) -> Claim:
        """Take the endpoint's lock for ``run_name`` unless a run is in flight or the cool-down holds.

        A run past its step deadline is not in flight: it is failed first, and the lock is free."""
        await self.expire_overdue_runs(endpoint)
        now = self.clock()
        outcome: list[Claim] = []

        async def take(p: RetrainingPolicy) -> RetrainingPolicy | None:
            outcome.clear()
            if p.active_run == run_name:
                outcome.append(Claim(True, "already claimed by this trigger"))
                return None
            if p.active_run:
                active = await self.runs.get(p.active_run)
                if active is not None and active.status.holds_lock:
                    outcome.append(Claim(False, f"run {p.active_run} is in flight ({active.status.value})"))
                    return None
            if p.last_run_end and now < p.last_run_end + timedelta(seconds=p.cooldown_seconds):
                until = p.last_run_end + timedelta(seconds=p.cooldown_seconds)
                outcome.append(Claim(False, f"cool-down until {until.isoformat()}"))
                return None
            if await self.runs.get(run_name) is not None:
                outcome.append(Claim(False, f"run {run_name} ran already for this trigger"))
                return None
            outcome.append(Claim(True, "claimed"))
            return p.model_copy(update={"active_run": run_name})

        await self.policies.update(endpoint, take)
        if outcome[0].started:
            self.changed.set()
        return outcome[0]

    async def hold(self, endpoint: str, run_name: str) -> None:
        """Take the lock for a run that resumes (a human approved its version) unless one is in flight."""
        await self.policies.update(endpoint, lambda p: None if p.active_run else p.model_copy(
            update={"active_run": run_name}))
        self.changed.set()

    async def start_run(self, run: RetrainingRun) -> RetrainingRun:
        """Record a claimed run (a duplicate delivery finds the existing one) and announce it."""
        try:
            created = await self.runs.create(run.run_name, run)
        except ResourceInUse:
            return await self.runs.require(run.run_name)
        await self._publish(created)
        return created

    async def get_run(self, name: str) -> RetrainingRun | None:
        """A run by name, or ``None``."""
        return await self.runs.get(name)

    async def list_runs(self, endpoint: str | None = None) -> list[RetrainingRun]:
        """Runs, oldest first, optionally of one endpoint."""
        runs = [r for r in await self.runs.list() if endpoint is None or r.endpoint_name == endpoint]
        return sorted(runs, key=lambda r: r.creation_time)

    async def advance(self, name: str, mutate: Callable[[RetrainingRun], RetrainingRun | None]
                      ) -> tuple[RetrainingRun, RetrainingRun]:
        """Change a run (``mutate`` returns ``None`` to leave it); a status change is published,
        and a run leaving the locking statuses releases the endpoint's lock."""
        now = self.clock()

        def edit(run: RetrainingRun) -> RetrainingRun | None:
            changed = mutate(run)
            if changed is None:
                return None
            update: dict[str, Any] = {"last_modified_time": now}
            if changed.status != run.status:
                update["step_started_at"] = now  # a new step: its deadline starts
            return changed.model_copy(update=update)

        before, after = await self.runs.update(name, edit)
        if after.status != before.status:
            if before.status.holds_lock and not after.status.holds_lock:
                await self._release(after, now)
            await self._publish(after)
        return before, after

    async def fail(self, name: str, reason: str) -> RetrainingRun:
        """End a run as ``Failed`` (the endpoint keeps serving what it served)."""
        def edit(run: RetrainingRun) -> RetrainingRun | None:
            if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
                return None
            return run.model_copy(update={"status": RunStatus.FAILED, "failure_reason": reason[:1024]})

        log.warning("retraining run %s failed: %s", name, reason)
        return (await self.advance(name, edit))[1]

    async def expire_overdue_runs(self, endpoint: str | None = None) -> list[str]:
        """Fail the runs (of ``endpoint``, or of every policy) stuck in a step past the policy's
        ``StepTimeoutSeconds``, which frees their endpoints; return their names."""
        now = self.clock()
        policies = [await self.get_policy(endpoint)] if endpoint else await self.list_policies()
        if endpoint is None:
            self._active = any(p.active_run for p in policies if p is not None)
        expired: list[str] = []
        for policy in policies:
            if policy is None or not policy.active_run:
                continue
            run = await self.runs.get(policy.active_run)
            if run is None or not run.overdue(policy.step_timeout_seconds, now):
                continue
            await self.fail(run.run_name, (
                f"InternalServerError: the run's {run.status.value} step passed its deadline "
                f"(StepTimeoutSeconds {policy.step_timeout_seconds}) without progress: an event it waited for was "
                f"lost or a job it started did not end. The endpoint keeps serving "
                f"{run.serving_package_arn or 'what it served'} and takes new runs."))
            expired.append(run.run_name)
        return expired

    async def _release(self, run: RetrainingRun, now: datetime) -> None:
        def unlock(p: RetrainingPolicy) -> RetrainingPolicy | None:
            if p.active_run != run.run_name:
                return None
            return p.model_copy(update={"active_run": None, "last_run_end": now})

        try:
            await self.policies.update(run.endpoint_name, unlock)
        except ResourceNotFound:
            pass  # the policy was deleted while the run was in flight

    async def _publish(self, run: RetrainingRun) -> None:
        await publish_state_change(self.publisher, DETAIL_TYPE, run.describe(), [], f"retraining run {run.run_name}")


def run_of(name: str) -> str | None:
    """The run a chain resource (``retrain-x-1234567890-cand``) belongs to, from its name."""
    if not name.startswith(RUN_PREFIX):
        return None
    parts = name.split("-")
    for i in range(len(parts), 2, -1):
        stem = "-".join(parts[:i])
        if re.fullmatch(rf"{RUN_PREFIX}.+-[0-9a-f]{{10}}", stem):
            return stem
    return None


def describe_runs(runs: list[RetrainingRun]) -> list[dict[str, Any]]:
    """Runs as JSON-safe dicts (for the CLI)."""
    return [r.to_json_doc() for r in runs]
