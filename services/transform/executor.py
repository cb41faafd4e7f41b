"""Running a transform job: start the model's containers, stream every input
object through them in batches, write ``<input>.out`` objects in input order.

Instances are the same inference servers hosting runs (``serve`` with
``SAGEMAKER_BIND_TO_PORT``), told they serve a batch job through the
variables SageMaker sets (``SAGEMAKER_BATCH``, ``SAGEMAKER_MAX_PAYLOAD_IN_MB``,
``SAGEMAKER_BATCH_STRATEGY``, ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS``). A job
that leaves ``MaxConcurrentTransforms`` unset gets the container's own
figure from ``GET /execution-parameters`` (one per CPU for XGBoost), as on
SageMaker.
A record the model rejects fails the whole job with the file and record
named: no partial, silently incomplete output.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from services.aws.logs import LogsAdapter
from services.aws.s3 import S3Adapter
from services.core.exceptions import JobFailed
from services.core.settings import Settings
from services.execution.executor import FAILURE_REASON_MAX, ClaimingExecutor
from services.inference.artifacts import ArtifactCache, extract_model
from services.inference.instance import Answer, ContainerSpec, Instance, InstanceUnavailable
from services.inference.model_code import fetch_model_code, serving_image
from services.runners.base import Runner
from services.runners.images import known_images
from services.transform.dataproc import DataProcessingError, decode_record, encode_record, join_input, parse_path
from services.transform.inputs import InputObject, list_inputs, output_key
from services.transform.models import TransformJob, TransformJobStatus
from services.transform.records import Batch, RecordError
from services.transform.service import TASK_KIND, TransformService
from services.transform.stream import Cutting, object_batches, object_chunks

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/TransformJobs"
DEFAULT_MAX_PAYLOAD_MB = 6


class _Stopped(Exception):
    """StopTransformJob arrived while the job ran."""


class TransformJobExecutor(ClaimingExecutor[TransformJob]):
    """The ``transform`` job kind, as workers run it (see :class:`services.execution.executor.JobExecutor`)."""

    kind = TASK_KIND

    def __init__(self, settings: Settings, transform: TransformService,
                 describe_model: Callable[[str], Awaitable[Any]], s3: S3Adapter, logs: LogsAdapter,
                 runner: Runner) -> None:
        self.settings = settings
        self.transform = transform
        self.describe_model = describe_model
        self.s3 = s3
        self.logs = logs
        self.runner = runner
        self.root = (settings.state_dir / "transform").resolve()
        self.artifacts = ArtifactCache(s3, self.root / "artifacts")

    @property
    def jobs(self) -> TransformService:
        """The transform job service, whose documents this executor claims."""
        return self.transform

    # --- running -----------------------------------------------------------------------

    async def execute(self, name: str) -> None:
        """Run the job to a terminal status."""
        job = await self.transform.describe_transform_job(name)
        if job.transform_job_status.is_terminal:
            return
        if job.headwater.stop_requested:
            await self.transform.transition(name, TransformJobStatus.STOPPED)
            return
        await self.transform.transition(
            name, edit=lambda j: setattr(j, "transform_start_time", j.transform_start_time or self.transform.clock()))
        try:
            async with self._stop_watched(name) as stop, aiohttp.ClientSession() as session:
                await self._transform(job, session, stop)
        except _Stopped:
            await self.transform.transition(name, TransformJobStatus.STOPPED)
            return
        except (JobFailed, RecordError, DataProcessingError) as err:
            await self.fail(name, str(err))
            return
        await self.transform.transition(name, TransformJobStatus.COMPLETED)

    async def _transform(self, job: TransformJob, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        """Start the job's instances and send every input object through them."""
        inputs = await list_inputs(self.s3, job)
        started = time.perf_counter()
        # Input is read and cut while the instances start, for as many slots as the containers will
        # likely take (a wrong guess costs only balance); a few batches ahead, no more.
        slots = [_likely_slots(job)]
        feed: asyncio.Queue[_Fed] = asyncio.Queue(maxsize=max(2, slots[0]))
        reader = asyncio.create_task(self._read_inputs(job, inputs, feed, slots))
        try:
            async with self._instances_started(job, session, reader) as instances:
                ready = time.perf_counter()
                await self._run(job, inputs, feed, slots, instances, session, stop)
                log.info("transform %s: %d instance(s) ready in %.2f s; %d object(s) transformed in %.2f s",
                         job.transform_job_name, len(instances), ready - started, len(inputs),
                         time.perf_counter() - ready)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    @contextlib.asynccontextmanager
    async def _stop_watched(self, name: str) -> AsyncIterator[asyncio.Event]:
        """An event set once ``StopTransformJob`` arrives, watched while the block runs."""
        stop = asyncio.Event()
        watcher = asyncio.create_task(self._watch_stop(name, stop))
        try:
            yield stop
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    @contextlib.asynccontextmanager
    async def _instances_started(self, job: TransformJob, session: aiohttp.ClientSession,
                                 reader: asyncio.Task[None]) -> AsyncIterator[list[Instance]]:
        """The job's instances, started (``reader``, reading the input meanwhile, is cancelled when
        they cannot start); every one is stopped when the block ends, however it ends."""
        starting = asyncio.create_task(self._start(job, session))
        instances: list[Instance] = []
        try:
            try:
                instances = await starting
            except BaseException:
                reader.cancel()
                raise
            yield instances
        finally:
            if not starting.done():
                with contextlib.suppress(Exception):
                    instances = await starting
            await asyncio.gather(*(i.stop(self.settings.stop_grace_seconds) for i in instances),
                                 return_exceptions=True)

    async def _watch_stop(self, name: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                if (await self.transform.describe_transform_job(name)).headwater.stop_requested:
                    stop.set()

    async def _start(self, job: TransformJob, session: aiohttp.ClientSession) -> list[Instance]:
        model = await self.describe_model(job.model_name)
        env = {
            "SAGEMAKER_BATCH": "true",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(job.max_payload_in_mb or DEFAULT_MAX_PAYLOAD_MB),
            "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD" if _strategy(job) == "MultiRecord" else "SINGLE_RECORD",
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(job.max_concurrent_transforms or 1),
            # A batch job owns its instances: thread pools may use every CPU.
            "OMP_NUM_THREADS": str(os.cpu_count() or 1),
            **(job.environment or {}),
        }
        count = job.transform_resources.instance_count
        # Every start runs to its end: one that fails must not leave the others running, unstopped.
        results = await asyncio.gather(*(self._instance(job, model, n, env, session) for n in range(count)),
                                       return_exceptions=True)
        started = [r for r in results if not isinstance(r, BaseException)]
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await asyncio.gather(*(i.stop(self.settings.stop_grace_seconds) for i in started), return_exceptions=True)
            raise failed[0]
        return started

    async def _instance(self, job: TransformJob, model: Any, n: int, env: dict[str, str],
                        session: aiohttp.ClientSession) -> Instance:
        ident = f"{job.transform_job_name}-{n + 1}-{uuid.uuid4().hex[:6]}"
        root = self.root / job.transform_job_name / ident
        specs = []
        for c_index, c in enumerate(model.pipeline()):
            image = serving_image(c)
            if image is None:
                raise JobFailed(f"ClientError: No container is known for image {c.image!r}. Built-in images: "
                                f"the SageMaker algorithm image URIs, or {', '.join(known_images())}")
            croot = root / f"c{c_index}"
            for d in ("model", "code", "output"):
                (croot / d).mkdir(parents=True, exist_ok=True)
            if c.model_data_url:
                async with self.artifacts.archive(c.model_data_url) as archive:
                    await asyncio.to_thread(extract_model, archive, croot / "model")
            await fetch_model_code(self.artifacts.s3, c, croot / "code")  # a script-mode model's source
            specs.append(ContainerSpec(c.container_hostname or f"container-{c_index + 1}", image,
                                       {**(c.environment or {}), **env}, croot))
        instance = Instance(ident, root, specs, self.runner, self.logs, LOG_GROUP,
                            f"{job.transform_job_name}/{ident}")
        try:
            await instance.start(session, timeout=120)
        except BaseException:
            await instance.stop(self.settings.stop_grace_seconds)
            raise
        return instance

    async def _run(self, job: TransformJob, inputs: list[InputObject], feed: asyncio.Queue[_Fed],
                   slots_hint: list[int], instances: list[Instance], session: aiohttp.ClientSession,
                   stop: asyncio.Event) -> None:
        per_instance = job.max_concurrent_transforms or await _container_concurrency(instances[0], session)
        slots: asyncio.Queue[Instance] = asyncio.Queue()
        for instance in instances:
            for _ in range(per_instance):
                slots.put_nowait(instance)
        slots_hint[0] = slots.qsize()  # objects not cut yet are cut for the slots there are
        # Objects go through one at a time (their batches fill every slot); the reader cuts the next
        # object's first batches while this one's last are transformed.
        for obj in inputs:
            if stop.is_set():
                raise _Stopped()
            await self._transform_object(job, obj, feed, slots, session, stop)

    async def _read_inputs(self, job: TransformJob, inputs: list[InputObject], feed: asyncio.Queue[_Fed],
                           slots: list[int]) -> None:
        """Read every input object in turn and put its batches on ``feed`` (an end mark after each
        object; a failure to read or cut one is put there too, in its place)."""
        try:
            for obj in inputs:
                chunks = object_chunks(self.s3, obj.bucket, obj.key, job.transform_input.compression_type == "Gzip")
                async for batch, values in object_batches(chunks, self._cutting(job, obj, slots[0])):
                    await feed.put((batch, values))
                await feed.put(None)
        except Exception as err:  # noqa: BLE001 - raised where the transform reaches it, in input order
            await feed.put(err)

    def _cutting(self, job: TransformJob, obj: InputObject, slots: int) -> Cutting:
        """How ``obj`` is cut: its SplitType, the job's BatchStrategy and payload limit, DataProcessing."""
        source = obj.uri
        dp = job.data_processing
        in_filter = parse_path(dp.input_filter if dp else "$")
        in_type = job.transform_input.content_type

        def prepare(raw: bytes, number: int) -> tuple[bytes, Any]:
            value = _decode(raw, in_type, source, number)
            return encode_record(in_filter.apply(value), in_type), value

        limit = (job.max_payload_in_mb or DEFAULT_MAX_PAYLOAD_MB) * 1024 * 1024
        return Cutting(job.transform_input.split_type, _strategy(job), limit, source, slots,
                       prepare if _processing(job) else None)

    async def _transform_object(self, job: TransformJob, obj: InputObject, feed: asyncio.Queue[_Fed],
                                slots: asyncio.Queue[Instance], session: aiohttp.ClientSession,
                                stop: asyncio.Event) -> None:
        """Send one object's batches as the reader cuts them, at most one per slot in flight, and
        write its output once every batch is answered (none is written if one fails)."""
        source = obj.uri
        split = job.transform_input.split_type
        output = _Output(job, source, _processing(job))
        in_flight = asyncio.Semaphore(slots.qsize())
        sent: collections.deque[tuple[Batch, list[Any], asyncio.Task[Answer]]] = collections.deque()
        failed: list[BaseException] = []

        def done(task: asyncio.Task[Answer]) -> None:
            in_flight.release()
            if not task.cancelled() and task.exception() is not None:
                failed.append(task.exception())  # type: ignore[arg-type]

        try:
            while (fed := await feed.get()) is not None:
                if isinstance(fed, Exception):
                    raise fed
                await in_flight.acquire()
                if failed:
                    raise failed[0]
                batch, values = fed
                task = asyncio.create_task(self._send(job, batch, split, slots, session, stop, source))
                task.add_done_callback(done)
                sent.append((batch, values, task))
                while sent and sent[0][2].done():  # answers are assembled in order as they come
                    batch, values, task = sent.popleft()
                    output.add(batch, values, task.result())
            while sent:
                batch, values, task = sent[0]
                output.add(batch, values, await task)
                sent.popleft()
        finally:
            for _, _, task in sent:
                task.cancel()
            await asyncio.gather(*(task for _, _, task in sent), return_exceptions=True)
        bucket, key = output_key(job, obj)
        await self.s3.put_bytes(bucket, key, output.body(),
                                job.transform_output.accept or job.transform_input.content_type)

    async def _send(self, job: TransformJob, batch: Batch, split: str, slots: asyncio.Queue[Instance],
                    session: aiohttp.ClientSession, stop: asyncio.Event, source: str) -> Answer:
        cfg = job.model_client_config
        retries = cfg.invocations_max_retries if cfg else 3
        timeout = float(cfg.invocations_timeout_in_seconds if cfg else 600)
        body = batch.payload(split if split == "Line" else "None")
        end = batch.first + batch.size - 1
        where = f"{source}: record {batch.first}" if end == batch.first else f"{source}: records {batch.first}-{end}"
        for attempt in range(retries + 1):
            if stop.is_set():
                raise _Stopped()
            instance = await slots.get()
            try:
                answer = await instance.invoke(session, body, job.transform_input.content_type,
                                               job.transform_output.accept, None, timeout)
            except (InstanceUnavailable, asyncio.TimeoutError) as err:
                if attempt == retries:
                    raise JobFailed(f"ClientError: {where}: the model server did not answer ({err})") from err
                continue
            finally:
                slots.put_nowait(instance)
            if answer.status < 500 or attempt == retries:
                break
        if answer.status >= 400:
            message = answer.body.decode("utf-8", errors="replace").strip()[:300]
            raise JobFailed(f"ClientError: {where}: the model returned {answer.status}: {message}")
        return answer

    async def fail(self, name: str, reason: str) -> None:
        """Fail the job with ``reason``."""
        await self.transform.transition(
            name, TransformJobStatus.FAILED, edit=lambda j: setattr(j, "failure_reason", reason[:FAILURE_REASON_MAX]))


# What the reader puts on the feed: a batch with its DataProcessing values, ``None`` after an
# object's last batch, or the error that stopped the reading.
_Fed = tuple[Batch, list[Any]] | None | Exception


class _Output:
    """One object's output, assembled batch by batch in input order from the model's answers."""

    def __init__(self, job: TransformJob, source: str, processing: bool) -> None:
        self.job = job
        self.source = source
        self.processing = processing
        self.line = job.transform_output.assemble_with == "Line"
        self.out_type: str | None = None  # of DataProcessing's output: Accept, else the first answer's type
        self.parts: list[bytes] = []

    def add(self, batch: Batch, values: list[Any], answer: Answer) -> None:
        """The next batch's answer."""
        self.parts.append(self._assemble(batch, values, answer))

    def body(self) -> bytes:
        """The whole output object."""
        if not self.parts:  # no records: as SageMaker writes an empty input's output
            return b"\n" if self.line or self.processing else b""
        return b"".join(self.parts)

    def _assemble(self, batch: Batch, values: list[Any], answer: Answer) -> bytes:
        job, source = self.job, self.source
        if not self.processing and not (self.line and _strategy(job) == "MultiRecord"):
            return answer.body.rstrip(b"\n") + b"\n" if self.line else answer.body
        if not self.processing and b"\r" not in answer.body:
            return _join_lines([batch], [answer], source)
        lines = answer.body.splitlines() if batch.size > 1 or self.processing else [answer.body.rstrip(b"\n")]
        if len(lines) != batch.size:
            raise JobFailed(f"ClientError: {source}: records {batch.first}-{batch.first + batch.size - 1}"
                            f": the model returned {len(lines)} predictions for {batch.size} records")
        if self.processing:
            dp = job.data_processing
            assert dp is not None
            out_filter = parse_path(dp.output_filter)
            if self.out_type is None:
                self.out_type = job.transform_output.accept or answer.content_type
            in_type = job.transform_input.content_type
            joined = []
            for n, (value, prediction) in enumerate(zip(values, lines), start=batch.first):
                try:
                    record = join_input(value, prediction, in_type, self.out_type) \
                        if dp.join_source == "Input" else decode_record(prediction, self.out_type)
                    joined.append(encode_record(out_filter.apply(record),
                                                in_type if dp.join_source == "Input" else self.out_type))
                except (DataProcessingError, ValueError) as err:
                    raise JobFailed(f"ClientError: {source}: record {n}: {err}") from err
            lines = joined
        return b"\n".join(lines) + b"\n"


def _join_lines(plan: list[Batch], answers: list[Answer], source: str) -> bytes:
    """MultiRecord answers assembled by line, each checked for one line per record, without splitting them."""
    pieces: list[bytes] = []
    for batch, answer in zip(plan, answers):
        body = answer.body
        if batch.size == 1:
            body, lines = body.rstrip(b"\n") + b"\n", 1
        else:
            lines = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
            if body and not body.endswith(b"\n"):
                body += b"\n"
        if lines != batch.size:
            raise JobFailed(f"ClientError: {source}: records {batch.first}-{batch.first + batch.size - 1}"
                            f": the model returned {lines} predictions for {batch.size} records")
        pieces.append(body)
    return b"".join(pieces)


def _processing(job: TransformJob) -> bool:
    """Whether DataProcessing changes anything: records are then decoded, filtered and joined."""
    dp = job.data_processing
    return dp is not None and (dp.join_source == "Input" or not parse_path(dp.input_filter).is_identity
                               or not parse_path(dp.output_filter).is_identity)


def _strategy(job: TransformJob) -> str:
    # Unset: whole objects stay single requests; split input is packed into mini-batches.
    if job.batch_strategy:
        return job.batch_strategy
    return "SingleRecord" if job.transform_input.split_type == "None" else "MultiRecord"


def _decode(raw: bytes, content_type: str | None, source: str, n: int) -> Any:
    try:
        return decode_record(raw, content_type)
    except ValueError as err:
        raise JobFailed(f"ClientError: {source}: record {n} is not valid {content_type or 'input'}: {err}") from err


def _likely_slots(job: TransformJob) -> int:
    """Concurrent requests the job's instances will take, before they say: ``MaxConcurrentTransforms``,
    else what the built-ins answer on ``/execution-parameters`` (one per CPU)."""
    per_instance = job.max_concurrent_transforms or os.cpu_count() or 1
    return per_instance * job.transform_resources.instance_count


async def _container_concurrency(instance: Instance, session: aiohttp.ClientSession) -> int:
    """``MaxConcurrentTransforms`` from the container's ``GET /execution-parameters``, as SageMaker
    asks when a job leaves it unset; 1 where the container does not answer it."""
    url = f"http://127.0.0.1:{instance.ports[0]}/execution-parameters"
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status != 200:
                return 1
            value = (await resp.json(content_type=None)).get("MaxConcurrentTransforms")
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, AttributeError):
        return 1
    return value if isinstance(value, int) and value >= 1 else 1
