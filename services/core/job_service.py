"""The skeleton every job kind's service shares.

Training, processing, transform and tuning jobs live the same life: a
``Create*`` request becomes a document, created once (a conditional write, so
a name is used once and a duplicate event never starts a second job), its
"SageMaker ... State Change" event published, and a task enqueued for a
worker. ``List*`` filters, sorts and pages the documents; tags are read and
written on the document; every status change is published again.
:class:`JobService` holds that skeleton once; each kind adds its own
request checks and the steps of its own statuses.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from services.core.events import Publisher, publish_state_change
from services.core.exceptions import ClaimLost, ResourceInUse, ResourceNotFound, ValidationException
from services.core.jobs import JobDocument, JobRuntime, JobStatus
from services.core.paging import page_after, page_ordered
from services.core.store import DocumentStore
from services.core.store_index import Summary
from services.core.tags import TagAccess, document_tags
from services.core.task_outbox import TaskOutbox
from services.core.tasks import Task, TaskQueue
from services.core.times import parse_time, utcnow

log = logging.getLogger(__name__)

J = TypeVar("J", bound=JobDocument)


@dataclass(frozen=True)
class Claim:
    """One worker's hold on one job: the attempt it runs.

    Every write the attempt makes to that job checks the job still names this
    worker and this attempt (:func:`acting_for`), so a worker that stalled and
    was taken over can neither report the job's outcome nor overwrite the new
    attempt's progress.
    """

    kind: str  # the job kind (a JobService's task_kind)
    name: str
    worker: str
    attempt: int

    def holds(self, runtime: JobRuntime) -> bool:
        """Whether the job's bookkeeping still names this attempt."""
        return runtime.worker == self.worker and runtime.attempts == self.attempt

    def lost(self, runtime: JobRuntime) -> ClaimLost:
        """The error that stops this attempt, naming who holds the job now."""
        return ClaimLost(f"{self.kind} job {self.name}: worker {self.worker} no longer holds attempt "
                         f"{self.attempt}; worker {runtime.worker} runs attempt {runtime.attempts}")


_ACTING_FOR: ContextVar[Claim | None] = ContextVar("headwater_claim", default=None)


@contextlib.contextmanager
def acting_for(claim: Claim) -> Iterator[None]:
    """Run the block (and the tasks it starts) as ``claim``'s attempt: its writes to that job are fenced."""
    token = _ACTING_FOR.set(claim)
    try:
        yield
    finally:
        _ACTING_FOR.reset(token)


@dataclass(frozen=True)
class ListJobsQuery:
    """The filters, order and page of a ``List*Jobs`` request (every job kind takes the same)."""

    status_equals: str | None = None
    name_contains: str | None = None
    creation_time_after: datetime | None = None
    creation_time_before: datetime | None = None
    last_modified_time_after: datetime | None = None
    last_modified_time_before: datetime | None = None
    sort_by: str = "CreationTime"
    sort_order: str = "Ascending"
    max_results: int = 10
    next_token: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ListJobsQuery:
        """The query a request's parameters (already validated against the service model) describe."""
        return cls(status_equals=params.get("StatusEquals"), name_contains=params.get("NameContains"),
                   creation_time_after=parse_time(params.get("CreationTimeAfter")),
                   creation_time_before=parse_time(params.get("CreationTimeBefore")),
                   last_modified_time_after=parse_time(params.get("LastModifiedTimeAfter")),
                   last_modified_time_before=parse_time(params.get("LastModifiedTimeBefore")),
                   sort_by=params.get("SortBy", "CreationTime"), sort_order=params.get("SortOrder", "Ascending"),
                   max_results=int(params.get("MaxResults", 10)), next_token=params.get("NextToken"))

    def matches(self, job: JobDocument) -> bool:
        """Whether ``job`` passes every filter (bounds are exclusive, as SageMaker's)."""
        return ((not self.status_equals or job.status.value == self.status_equals)
                and (not self.name_contains or self.name_contains.lower() in job.name.lower())
                and (self.creation_time_after is None or job.creation_time > self.creation_time_after)
                and (self.creation_time_before is None or job.creation_time < self.creation_time_before)
                and (self.last_modified_time_after is None or job.last_modified_time > self.last_modified_time_after)
                and (self.last_modified_time_before is None
                     or job.last_modified_time < self.last_modified_time_before))

    def summary_filter(self) -> Callable[[Summary], bool]:
        """:meth:`matches` on a job's index summary (:func:`job_summary`), its bounds computed once."""
        def ts(t: datetime | None) -> float | None:
            return None if t is None else t.timestamp()

        after, before = ts(self.creation_time_after), ts(self.creation_time_before)
        m_after, m_before = ts(self.last_modified_time_after), ts(self.last_modified_time_before)
        status, contains = self.status_equals, (self.name_contains or "").lower()

        def keep(s: Summary) -> bool:
            return ((not status or s["s"] == status) and (not contains or contains in s["n"].lower())
                    and (after is None or s["c"] > after) and (before is None or s["c"] < before)
                    and (m_after is None or s["m"] > m_after) and (m_before is None or s["m"] < m_before))
        return keep

    def position(self, s: Summary) -> tuple[Any, ...]:
        """A summary's place in ``SortBy`` order: ``Name``, ``CreationTime`` (ties by name) or ``Status``
        (ties by creation, then name). It ends with the name, so the order is total (keyset paging)."""
        keys: dict[str, Callable[[Summary], tuple[Any, ...]]] = {
            "Name": lambda j: (j["n"],),
            "CreationTime": lambda j: (j["c"], j["n"]),
            "Status": lambda j: (j["s"], j["c"], j["n"]),
        }
        return keys[self.sort_by](s)


def job_summary(job: JobDocument) -> Summary:
    """What the index keeps of a job for ``List*Jobs``: its name, status and times (epoch seconds)."""
    return {"n": job.name, "s": job.status.value, "c": job.creation_time.timestamp(),
            "m": job.last_modified_time.timestamp()}


class JobService(Generic[J]):
    """The skeleton of a job kind's service, over a store, a task queue and a bus.

    A kind names its ARN resource type, its event's ``detail-type`` and its
    task kind, and where it must, overrides the hooks: how a document is
    described in its events (:meth:`describe`), what marking it ``Stopping``
    does (:meth:`mark_stopping`), and when a change is worth an event
    (:meth:`changed`).
    """

    resource_type: ClassVar[str]  # in ARNs and tags: "training-job"
    label: ClassVar[str]  # in SageMaker's messages: "training job"
    detail_type: ClassVar[str]  # "SageMaker Training Job State Change"
    task_kind: ClassVar[str]  # the worker's executor kind

    def __init__(self, store: DocumentStore[J], tasks: TaskQueue, publisher: Publisher, *, region: str,
                 account_id: str, clock: Callable[[], datetime] = utcnow, outbox: TaskOutbox | None = None) -> None:
        self.store = store
        self.tasks = tasks
        self.publisher = publisher
        self.region = region
        self.account_id = account_id
        self.clock = clock
        self.outbox = outbox  # without one (unit tests), a task that cannot be sent fails the submit
        self._orders: dict[str, tuple[Any, list[tuple[tuple[Any, ...], Summary]]]] = {}  # sort_by -> (stamp, order)

    def arn(self, name: str) -> str:
        """The job's ARN (SageMaker lower-cases the name in ARNs)."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{self.resource_type}/{name.lower()}"

    async def submit(self, job: J) -> J:
        """Create the document once (:class:`ResourceInUse` if the name exists), publish it, enqueue its task.

        The task is promised in the outbox before the document exists and the promise cleared once the
        queue has it, so a queue that does not answer (or a process that dies) never leaves the job without
        its task: the workers' sweep sends it later, and the job is created all the same.
        """
        task = Task(kind=self.task_kind, name=job.name)
        promised = self.outbox is not None and await self.outbox.promise(task, self.tasks.queue_name)
        try:
            await self.store.create(job.name, job)
        except ResourceInUse:
            if promised and self.outbox is not None:
                await self.outbox.settle(task)
            raise
        await self.publish(job)
        if self.outbox is None:
            await self.tasks.enqueue(task)
            return job
        try:
            await self.tasks.enqueue(task)
        except Exception:  # noqa: BLE001 - the promise stands; a worker's sweep sends the task
            self.outbox.left_behind()
            log.warning("could not enqueue the task of %s %s; a worker's sweep will", self.label, job.name,
                        exc_info=True)
            return job
        await self.outbox.settle(task)
        return job

    async def find(self, name: str) -> J:
        """The job by name, or by the lower-cased name an ARN carries; else :class:`ResourceNotFound`."""
        job = await self.store.find(name, lambda j: j.name)
        if job is None:
            raise ResourceNotFound(f"Requested resource not found: {self.store.kind} {name} does not exist")
        return job

    async def list_jobs(self, query: ListJobsQuery) -> tuple[list[J], str | None]:
        """Filter, sort and page the jobs as ``List*Jobs`` does.

        From the store's index where it keeps one: the summaries choose the page, and only the page's
        documents are read. ``NextToken`` names the last job's place in the order, so jobs created
        while a client pages never make a page skip or repeat one.
        """
        descending, keep = query.sort_order == "Descending", query.summary_filter()
        index = self.store.index
        if index is not None:
            summaries = await self.store.summaries()
            # The sorted order is kept while the index does not change: a page then costs its own size.
            stamp = (index.generation, query.sort_by) if index.stable else None
            ordered = self._orders.get(query.sort_by)
            if stamp is None or ordered is None or ordered[0] != stamp:
                ordered = (stamp, sorted(((query.position(s), s) for s in summaries.values()), key=lambda p: p[0]))
                self._orders = {query.sort_by: ordered} if stamp else {}
            chosen, token = page_ordered(ordered[1], keep, descending, query.max_results, query.next_token)
            return await self.store.get_many([s["n"] for s in chosen]), token
        by_summary = [(job_summary(j), j) for j in await self.store.list()]
        pairs, token = page_after([p for p in by_summary if keep(p[0])], lambda p: query.position(p[0]),
                                  descending, query.max_results, query.next_token)
        return [j for _, j in pairs], token

    def tag_access(self) -> TagAccess:
        """How ``AddTags`` / ``ListTags`` / ``DeleteTags`` reach a job's tags."""
        return document_tags(self.store, self.find, lambda j: j.name)

    async def request_stop(self, name: str) -> J | None:
        """Mark the job ``Stopping`` for its executor to stop; a job already stopping is left as it is, a
        finished one refused with SageMaker's message. Returns the job as marked, or ``None``."""

        def mark(job: J) -> J | None:
            if job.status is JobStatus.STOPPING:
                return None
            if job.status.is_terminal:
                raise ValidationException(f"The request was rejected because the {self.label} is in status "
                                          f"{job.status.value}.")
            job.headwater.stop_requested = True
            self.mark_stopping(job, self.clock())
            return job

        before, after = await self.store.update(name, mark)
        if after is before:
            return None
        await self.publish(after)
        return after

    def mark_stopping(self, job: J, now: datetime) -> None:
        """What ``Stopping`` looks like on the document (a kind adds its secondary status)."""
        job.enter(JobStatus.STOPPING, now)

    async def transition(self, name: str, status: JobStatus | None = None,
                         edit: Callable[[J], None] | None = None) -> J:
        """Apply ``edit`` and enter ``status``; publish when the status changed. Finished jobs never change."""

        def mutate(job: J) -> J | None:
            if job.status.is_terminal:
                return None
            if edit:
                edit(job)
            now = self.clock()
            job.last_modified_time = now
            if status is not None:
                job.enter(status, now)
            return job

        return await self.modify(name, mutate)

    async def update_runtime(self, name: str, edit: Callable[[JobRuntime], None]) -> J:
        """Change the job's bookkeeping (claims, heartbeats, errors) alone: never a finished job's, and
        neither its status nor ``LastModifiedTime``, which tell the user what the job did."""

        def mutate(job: J) -> J | None:
            if job.status.is_terminal:
                return None
            edit(job.headwater)
            return job

        return await self.modify(name, mutate)  # fenced; publishes nothing, as no status moves

    async def modify(self, name: str, mutate: Callable[[J], J | None]) -> J:
        """Read-modify-write the document (``mutate`` may return ``None``: no change); publish when
        :meth:`changed` says so."""

        def fenced(job: J) -> J | None:
            self.check_fence(name, job)
            return mutate(job)

        before, after = await self.store.update(name, fenced)
        if self.changed(before, after):
            await self.publish(after)
        return after

    def check_fence(self, name: str, job: J) -> None:
        """Refuse a write on behalf of an attempt that no longer holds ``job`` (:class:`ClaimLost`)."""
        claim = _ACTING_FOR.get()
        if claim is not None and claim.kind == self.task_kind and claim.name == name and not claim.holds(job.headwater):
            raise claim.lost(job.headwater)

    def changed(self, before: J, after: J) -> bool:
        """Whether a write is worth an event: the status moved."""
        return before.status != after.status

    def describe(self, job: J) -> dict[str, Any]:
        """The Describe* response, which is also the event's ``detail``."""
        return job.describe()

    async def publish(self, job: J) -> None:
        """Publish the job's state change; the store is the source of truth, so a lost event is logged."""
        await publish_state_change(self.publisher, self.detail_type, self.describe(job), [job.arn], job.name)
