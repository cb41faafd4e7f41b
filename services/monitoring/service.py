"""Model Monitor: job definitions, schedules, and their executions.

Schedules fire on Headwater's own clock (moto fires no scheduled rules;
LocalStack and AWS are treated the same way), one execution per firing
time even with several nodes: the next firing time advances in a
conditional write, and only the writer that advanced it runs the
execution. An execution is a processing job running the analyzer over the
endpoint's captured data of its window; when it ends, its
``constraint_violations.json`` decides ``Completed`` or
``CompletedWithViolations``, and an event says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.core.events import Publisher, publish_state_change
from services.core.exceptions import PreconditionFailed, ResourceInUse, ResourceNotFound, ValidationException
from services.core.paging import page
from services.core.schedule_expressions import parse_schedule
from services.core.store import DocumentStore
from services.core.tags import TagAccess, document_tags
from services.core.times import parse_time, utcnow
from services.monitoring.execution_request import Definition, from_inline, from_job_definition, processing_request
from services.monitoring.models import DEFINITION_KEYS, JobDefinition, MonitoringExecution, MonitoringSchedule
from services.processing.models import CreateProcessingJobRequest

log = logging.getLogger(__name__)

EXECUTION_DETAIL_TYPE = "SageMaker Model Monitoring Execution Status Change"
_DURATION = re.compile(r"^-P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def parse_offset(text: str | None, default: timedelta) -> timedelta:
    """``-PT1H``-style ISO 8601 offsets of ``StartTimeOffset`` / ``EndTimeOffset``."""
    if not text:
        return default
    m = _DURATION.match(text)
    if m is None or not any(m.groups()):
        raise ValidationException(f"Invalid time offset {text!r}: expected a negative ISO 8601 duration like -PT1H")
    days, hours, minutes = (int(g or 0) for g in m.groups())
    return -timedelta(days=days, hours=hours, minutes=minutes)


class MonitoringService:
    """The monitoring control plane and the firing of executions."""

    def __init__(self, definitions: DocumentStore[JobDefinition], schedules: DocumentStore[MonitoringSchedule],
                 executions: DocumentStore[MonitoringExecution], processing: Any, hosting: Any, s3: S3Adapter,
                 publisher: Publisher, *, region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.definitions = definitions
        self.schedules = schedules
        self.executions = executions
        self.processing = processing
        self.hosting = hosting
        self.s3 = s3
        self.publisher = publisher
        self.region = region
        self.account_id = account_id
        self.clock = clock
        # Set by every change that may give the node's clock work (a schedule created, started,
        # stopped or deleted, an on-demand run): a node with nothing scheduled waits on it, not a timer.
        self.changed = asyncio.Event()
        self._scheduled = True  # until the first pass says otherwise
        self._open = True

    @property
    def has_work(self) -> bool:
        """Whether the last :meth:`fire_due` and :meth:`reconcile` saw a ``Scheduled`` schedule or an
        execution not yet settled: then the clock ticks; else it waits for :attr:`changed`."""
        return self._scheduled or self._open

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    # --- job definitions -----------------------------------------------------------------

    async def create_job_definition(self, monitoring_type: str, params: dict[str, Any]) -> JobDefinition:
        """Store a DataQuality / ModelQuality job definition."""
        name = params["JobDefinitionName"]
        doc = JobDefinition(monitoring_type=monitoring_type, request=params,
                            arn=self._arn("monitoring-job-definition", name), creation_time=self.clock())
        try:
            return await self.definitions.create(name, doc)
        except ResourceInUse as err:
            raise ResourceInUse(f"Job definition {name} already exists") from err

    async def describe_job_definition(self, monitoring_type: str, name: str) -> JobDefinition:
        """The definition, or ``ResourceNotFound`` (also for another type's definition)."""
        doc = await self.definitions.get(name)
        if doc is None or doc.monitoring_type != monitoring_type:
            raise ResourceNotFound(f"Job definition {name} does not exist")
        return doc

    async def list_job_definitions(self, monitoring_type: str, params: dict[str, Any]
                                   ) -> tuple[list[JobDefinition], str | None]:
        """Filter, sort and page definitions of one type."""
        docs = [d for d in await self.definitions.list() if d.monitoring_type == monitoring_type
                and (params.get("NameContains") or "").lower() in d.name.lower()
                and (not params.get("EndpointName") or d.endpoint_name() == params["EndpointName"])]
        key = (lambda d: d.name) if params.get("SortBy") == "Name" else (lambda d: (d.creation_time, d.name))
        docs.sort(key=key, reverse=params.get("SortOrder", "Descending") == "Descending")
        return page(docs, int(params.get("MaxResults", 10)), params.get("NextToken"))

    async def delete_job_definition(self, monitoring_type: str, name: str) -> None:
        """Delete a definition no schedule uses."""
        await self.describe_job_definition(monitoring_type, name)
        users = [s.name for s in await self.schedules.list() if s.config.get("MonitoringJobDefinitionName") == name]
        if users:
            raise ResourceInUse(f"Job definition {name} is used by monitoring schedule(s) {', '.join(users)}")
        await self.definitions.delete(name)

    # --- schedules -------------------------------------------------------------------------

    async def _definition(self, config: dict[str, Any]) -> Definition:
        if config.get("MonitoringJobDefinition"):
            return from_inline(config)
        name = config.get("MonitoringJobDefinitionName")
        if not name:
            raise ValidationException("MonitoringScheduleConfig needs MonitoringJobDefinition or "
                                      "MonitoringJobDefinitionName")
        doc = await self.definitions.get(name)
        if doc is None:
            raise ResourceNotFound(f"Job definition {name} does not exist")
        kind = config.get("MonitoringType") or doc.monitoring_type
        if kind != doc.monitoring_type:
            raise ValidationException(f"MonitoringType {kind} does not match job definition {name} "
                                      f"({doc.monitoring_type})")
        return from_job_definition(doc)

    async def create_monitoring_schedule(self, params: dict[str, Any]) -> MonitoringSchedule:
        """Validate and store a schedule; its first firing is the expression's next time."""
        name, config = params["MonitoringScheduleName"], params["MonitoringScheduleConfig"]
        definition = await self._definition(config)
        if definition.monitoring_type not in ("DataQuality", "ModelQuality"):
            raise ValidationException(f"MonitoringType {definition.monitoring_type} is not supported by Headwater")
        expression = (config.get("ScheduleConfig") or {}).get("ScheduleExpression")
        if not expression:
            raise ValidationException("ScheduleConfig.ScheduleExpression is required")
        now = self.clock()
        schedule = MonitoringSchedule(
            name=name, arn=self._arn("monitoring-schedule", name), monitoring_type=definition.monitoring_type,
            config={**config, "MonitoringType": definition.monitoring_type},
            endpoint_name=definition.endpoint_input.get("EndpointName"), creation_time=now, last_modified_time=now,
            next_run=parse_schedule(expression).next_after(now, start=now), tags=params.get("Tags"))
        try:
            created = await self.schedules.create(name, schedule)
        except ResourceInUse as err:
            raise ResourceInUse(f"Monitoring schedule {name} already exists") from err
        self.changed.set()
        return created

    async def describe_monitoring_schedule(self, name: str) -> MonitoringSchedule:
        """The schedule, or ``ResourceNotFound``."""
        doc = await self.schedules.get(name)
        if doc is None:
            raise ResourceNotFound(f"Monitoring schedule {name} does not exist")
        return doc

    async def list_monitoring_schedules(self, params: dict[str, Any]) -> tuple[list[MonitoringSchedule], str | None]:
        """Filter, sort and page schedules."""
        docs = [s for s in await self.schedules.list()
                if (params.get("NameContains") or "").lower() in s.name.lower()
                and (not params.get("EndpointName") or s.endpoint_name == params["EndpointName"])
                and (not params.get("StatusEquals") or s.status == params["StatusEquals"])
                and (not params.get("MonitoringTypeEquals") or s.monitoring_type == params["MonitoringTypeEquals"])
                and (not params.get("MonitoringJobDefinitionName")
                     or s.config.get("MonitoringJobDefinitionName") == params["MonitoringJobDefinitionName"])]
        keys: dict[str, Callable[[MonitoringSchedule], Any]] = {
            "Name": lambda s: s.name, "Status": lambda s: (s.status, s.creation_time),
            "CreationTime": lambda s: (s.creation_time, s.name)}
        docs.sort(key=keys[params.get("SortBy", "CreationTime")], reverse=params.get("SortOrder", "Descending")
                  == "Descending")
        return page(docs, int(params.get("MaxResults", 10)), params.get("NextToken"))

    async def rebaseline(self, name: str, baseline: dict[str, Any]) -> None:
        """Point a schedule at a new ``BaselineConfig`` (constraints and statistics) from its next execution.

        An inline definition is edited in the schedule; a named job definition
        is edited in place, so every schedule sharing it moves to the new
        baseline together.
        """
        schedule = await self._find(name)
        if schedule.config.get("MonitoringJobDefinition"):
            def edit(s: MonitoringSchedule) -> MonitoringSchedule:
                s.config["MonitoringJobDefinition"]["BaselineConfig"] = baseline
                s.last_modified_time = self.clock()
                return s

            await self.schedules.update(name, edit)
            return
        definition = schedule.config["MonitoringJobDefinitionName"]

        def edit_definition(d: JobDefinition) -> JobDefinition:
            key = DEFINITION_KEYS[d.monitoring_type][3]
            d.request[key] = {**(d.request.get(key) or {}), **baseline}
            return d

        await self.definitions.update(definition, edit_definition)

    async def set_schedule_status(self, name: str, status: str) -> None:
        """Stop (no further firings) or start (fire again from the next time) a schedule."""
        await self.describe_monitoring_schedule(name)
        now = self.clock()

        def edit(s: MonitoringSchedule) -> MonitoringSchedule:
            s.status = status
            s.last_modified_time = now
            if status == "Scheduled":
                expression = s.config["ScheduleConfig"]["ScheduleExpression"]
                s.next_run = parse_schedule(expression).next_after(now, start=now)
            return s

        await self.schedules.update(name, edit)
        self.changed.set()

    async def delete_monitoring_schedule(self, name: str) -> None:
        """Delete a schedule (its executions' records stay listed)."""
        await self.describe_monitoring_schedule(name)
        await self.schedules.delete(name)
        self.changed.set()

    # --- executions ------------------------------------------------------------------------

    async def list_monitoring_executions(self, params: dict[str, Any]
                                         ) -> tuple[list[MonitoringExecution], str | None]:
        """Filter, sort and page executions."""
        b = {k: parse_time(params.get(k)) for k in ("ScheduledTimeBefore", "ScheduledTimeAfter",
                                                     "CreationTimeBefore", "CreationTimeAfter")}
        docs = [e for e in await self.executions.list()
                if (not params.get("MonitoringScheduleName") or e.schedule_name == params["MonitoringScheduleName"])
                and (not params.get("EndpointName") or e.endpoint_name == params["EndpointName"])
                and (not params.get("StatusEquals") or e.status == params["StatusEquals"])
                and (not params.get("MonitoringTypeEquals") or e.monitoring_type == params["MonitoringTypeEquals"])
                and (b["ScheduledTimeBefore"] is None or e.scheduled_time < b["ScheduledTimeBefore"])
                and (b["ScheduledTimeAfter"] is None or e.scheduled_time > b["ScheduledTimeAfter"])
                and (b["CreationTimeBefore"] is None or e.creation_time < b["CreationTimeBefore"])
                and (b["CreationTimeAfter"] is None or e.creation_time > b["CreationTimeAfter"])]
        keys: dict[str, Callable[[MonitoringExecution], Any]] = {
            "ScheduledTime": lambda e: e.scheduled_time, "CreationTime": lambda e: e.creation_time,
            "Status": lambda e: (e.status, e.scheduled_time)}
        docs.sort(key=keys[params.get("SortBy", "ScheduledTime")], reverse=params.get("SortOrder", "Descending")
                  == "Descending")
        return page(docs, int(params.get("MaxResults", 10)), params.get("NextToken"))

    async def fire_due(self) -> list[MonitoringExecution]:
        """Run every schedule whose next firing time has come (once per firing time)."""
        now = self.clock()
        fired = []
        schedules = await self.schedules.list()
        self._scheduled = any(s.status == "Scheduled" for s in schedules)
        for schedule in schedules:
            if schedule.status != "Scheduled" or schedule.next_run is None or schedule.next_run > now:
                continue
            scheduled = schedule.next_run
            expression = schedule.config["ScheduleConfig"]["ScheduleExpression"]
            nxt = parse_schedule(expression).next_after(now, start=schedule.creation_time)

            def advance(s: MonitoringSchedule, due: datetime = scheduled, then: datetime = nxt) -> MonitoringSchedule:
                if s.next_run != due:
                    raise PreconditionFailed("another node fired this time")  # not ours to run
                s.next_run = then
                return s

            try:
                await self.schedules.update(schedule.name, advance)
            except (PreconditionFailed, ResourceNotFound):
                continue
            try:
                fired.append(await self.run_execution(schedule.name, scheduled))
            except Exception:  # noqa: BLE001 - one schedule's failure must not keep the others from firing
                log.exception("monitoring schedule %s: the firing of %s could not start", schedule.name,
                              scheduled.isoformat())
        return fired

    async def run_execution(self, schedule_name: str, scheduled: datetime | None = None, *,
                            since: datetime | None = None) -> MonitoringExecution:
        """Start one execution now (a firing, or an on-demand run).

        ``since`` narrows an on-demand run's window to the traffic after that
        time (e.g. since an endpoint update), within the schedule's own window.
        """
        schedule = await self.describe_monitoring_schedule(schedule_name)
        on_demand = scheduled is None
        scheduled = scheduled or self.clock()
        digest = hashlib.sha256(f"{schedule.name}/{scheduled.isoformat()}".encode()).hexdigest()[:16]
        job_name = f"model-monitoring-{scheduled:%Y%m%d%H%M%S}-{digest}"
        now = self.clock()
        execution = MonitoringExecution(
            schedule_name=schedule.name, scheduled_time=scheduled, creation_time=now, last_modified_time=now,
            processing_job_name=job_name, endpoint_name=schedule.endpoint_name,
            definition_name=schedule.config.get("MonitoringJobDefinitionName"),
            monitoring_type=schedule.monitoring_type)
        try:
            definition = await self._definition(schedule.config)
            endpoint = definition.endpoint_input.get("EndpointName") or ""
            capture = await self._capture_destination(endpoint)
            start = scheduled + parse_offset(definition.endpoint_input.get("StartTimeOffset"), -timedelta(hours=1))
            if since is not None:
                start = max(start, since)
            end = scheduled + parse_offset(definition.endpoint_input.get("EndTimeOffset"), timedelta(0))
            if on_demand:
                # Capture times and the window's bounds have whole seconds, and the window ends before its end:
                # a run started now takes in what was captured in this second too.
                end = end.replace(microsecond=0) + timedelta(seconds=1)
            request = processing_request(job_name, schedule.name, definition, capture, endpoint, start, end,
                                         scheduled)
            job = await self.processing.create_processing_job(CreateProcessingJobRequest.model_validate(request))
            execution.processing_job_arn = job.processing_job_arn
            execution.output_uri = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
            execution.status = "InProgress"
        except (ValidationException, ResourceNotFound) as err:
            execution.status, execution.failure_reason = "Failed", str(err)
        await self.executions.create(execution.key, execution)
        self.changed.set()  # an execution to settle: the clock ticks until it is
        await self._record(execution)
        return execution

    async def _capture_destination(self, endpoint: str) -> str:
        ep = await self.hosting.describe_endpoint(endpoint)
        config = await self.hosting.describe_endpoint_config(ep.endpoint_config_name)
        capture = config.data_capture_config
        if capture is None or capture.enable_capture is False:
            raise ValidationException(f"Endpoint {endpoint} does not capture data (DataCaptureConfig)")
        return capture.destination_s3_uri

    async def reconcile(self) -> list[MonitoringExecution]:
        """Move executions whose processing job ended to their final status."""
        done = []
        executions = await self.executions.list()
        self._open = any(not e.terminal for e in executions)
        for execution in executions:
            if execution.terminal:
                continue
            job = await self.processing.describe_processing_job(execution.processing_job_name)
            status = job.processing_job_status.value
            if status not in ("Completed", "Failed", "Stopped"):
                continue
            if status == "Completed":
                execution.violations = await self._violations(execution)
                execution.status = "CompletedWithViolations" if execution.violations else "Completed"
            else:
                execution.status = status
                execution.failure_reason = job.failure_reason or getattr(job, "exit_message", None) or status
            execution.last_modified_time = self.clock()
            await self.executions.update(execution.key, lambda _e, new=execution: new)
            await self._record(execution)
            done.append(execution)
        return done

    async def _violations(self, execution: MonitoringExecution) -> int:
        if not execution.output_uri:
            return 0
        bucket, prefix = parse_s3_uri(execution.output_uri)
        found = await self.s3.get_json(bucket, f"{prefix.rstrip('/')}/constraint_violations.json")
        return len((found[0] or {}).get("violations", [])) if found else 0

    async def _record(self, execution: MonitoringExecution) -> None:
        """Keep the schedule's last execution summary current, and publish the change."""
        summary = execution.summary()
        try:
            await self.schedules.update(execution.schedule_name,
                                        lambda s: setattr(s, "last_execution", summary) or s)
        except ResourceNotFound:
            pass
        detail = {**summary, "ViolationsFound": bool(execution.violations),
                  "ViolationCount": execution.violations or 0}
        if execution.output_uri:
            detail["ViolationReportUri"] = f"{execution.output_uri}/constraint_violations.json"
        await publish_state_change(self.publisher, EXECUTION_DETAIL_TYPE, detail,
                                   [self._arn("monitoring-schedule", execution.schedule_name)],
                                   f"the execution of {execution.schedule_name}")

    def tag_access(self) -> TagAccess:
        """Tags of monitoring schedules."""
        return document_tags(self.schedules, self._find, lambda schedule: schedule.name)

    async def _find(self, name: str) -> MonitoringSchedule:
        doc = await self.schedules.find(name, lambda schedule: schedule.name)
        if doc is None:
            raise ResourceNotFound(f"Monitoring schedule {name} does not exist")
        return doc
