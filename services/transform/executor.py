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
import contextlib
import gzip
import logging
import os
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
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
from services.transform.records import Batch, RecordError, batches, cut_line_batches, split_records
from services.transform.service import TASK_KIND, TransformService

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
        # The first object is read and split while the instances start, for as many slots as the
        # containers will likely take (a wrong guess costs only balance).
        first = asyncio.create_task(self._prepare(job, inputs[0], _likely_slots(job)))
        async with self._instances_started(job, session, first) as instances:
            ready = time.perf_counter()
            await self._run(job, inputs, first, instances, session, stop)
            log.info("transform %s: %d instance(s) ready in %.2f s; %d object(s) transformed in %.2f s",
                     job.transform_job_name, len(instances), ready - started, len(inputs), time.perf_counter() - ready)

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
                                 first: asyncio.Task[_Prepared]) -> AsyncIterator[list[Instance]]:
        """The job's instances, started (``first``, the first object's preparation, is cancelled when
        they cannot start); every one is stopped when the block ends, however it ends."""
        starting = asyncio.create_task(self._start(job, session))
        instances: list[Instance] = []
        try:
            try:
                instances = await starting
            except BaseException:
                first.cancel()
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
        return list(await asyncio.gather(*(self._instance(job, model, n, env, session) for n in range(count))))

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

    async def _run(self, job: TransformJob, inputs: list[InputObject], first: asyncio.Task[_Prepared],
                   instances: list[Instance], session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        per_instance = job.max_concurrent_transforms or await _container_concurrency(instances[0], session)
        slots: asyncio.Queue[Instance] = asyncio.Queue()
        for instance in instances:
            for _ in range(per_instance):
                slots.put_nowait(instance)
        # Objects go through one at a time (their batches fill every slot); the next
        # object is read and split while this one is transformed.
        upcoming = first
        try:
            for n, obj in enumerate(inputs):
                prepared = await upcoming
                if n + 1 < len(inputs):
                    upcoming = asyncio.create_task(self._prepare(job, inputs[n + 1], slots.qsize()))
                if stop.is_set():
                    raise _Stopped()
                await self._transform_object(job, obj, prepared, slots, session, stop)
        finally:
            upcoming.cancel()

    async def _prepare(self, job: TransformJob, obj: InputObject, slots: int) -> _Prepared:
        """Read one object and cut it into request batches for ``slots`` concurrent requests."""
        source = obj.uri
        data = await self._read(obj, job.transform_input.compression_type)
        split = job.transform_input.split_type
        dp = job.data_processing
        in_filter = parse_path(dp.input_filter if dp else "$")
        processing = dp is not None and (dp.join_source == "Input" or not in_filter.is_identity
                                         or not parse_path(dp.output_filter).is_identity)
        limit = (job.max_payload_in_mb or DEFAULT_MAX_PAYLOAD_MB) * 1024 * 1024
        if split == "Line" and not processing and _strategy(job) == "MultiRecord":
            # Large clean CSV / JSON Lines input: cut at newlines, no object per record.
            plan = await asyncio.to_thread(cut_line_batches, data, limit, source, slots)
            if plan is not None:
                return _Prepared(plan, [], processing)
        raw_records = split_records(data, split, source)
        in_type = job.transform_input.content_type
        values: list[Any] = []
        if processing:
            values = [_decode(r, in_type, source, i) for i, r in enumerate(raw_records, start=1)]
            sent = [encode_record(in_filter.apply(v), in_type) for v in values]
        else:
            sent = raw_records
        return _Prepared(list(batches(sent, _strategy(job), limit, source)), values, processing)

    async def _transform_object(self, job: TransformJob, obj: InputObject, prepared: _Prepared,
                                slots: asyncio.Queue[Instance], session: aiohttp.ClientSession,
                                stop: asyncio.Event) -> None:
        source = obj.uri
        split = job.transform_input.split_type
        plan, values, processing = prepared.plan, prepared.values, prepared.processing
        answers = await asyncio.gather(*(self._send(job, b, split, slots, session, stop, source) for b in plan))
        outputs = self._assemble(job, plan, answers, values, processing, source)
        bucket, key = output_key(job, obj)
        await self.s3.put_bytes(bucket, key, outputs, job.transform_output.accept or job.transform_input.content_type)

    async def _read(self, obj: InputObject, compression: str) -> bytes:
        resp = await self.s3.client.get_object(Bucket=obj.bucket, Key=obj.key)
        async with resp["Body"] as body:
            data = await body.read()
        if compression == "Gzip":
            try:
                return await asyncio.to_thread(gzip.decompress, data)
            except (OSError, EOFError, zlib.error) as err:
                raise JobFailed(f"ClientError: {obj.uri} is not valid gzip ({err})") from err
        return data

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

    def _assemble(self, job: TransformJob, plan: list[Batch], answers: list[Answer], values: list[Any],
                  processing: bool, source: str) -> bytes:
        line = job.transform_output.assemble_with == "Line"
        if not processing and not (line and _strategy(job) == "MultiRecord"):
            sep = b"\n" if line else b""
            return sep.join(a.body.rstrip(b"\n") if line else a.body for a in answers) + (b"\n" if line else b"")
        if not processing and plan and not any(b"\r" in a.body for a in answers):
            return _join_lines(plan, answers, source)
        outputs: list[bytes] = []
        for batch, answer in zip(plan, answers):
            lines = answer.body.splitlines() if batch.size > 1 or processing else [answer.body.rstrip(b"\n")]
            if len(lines) != batch.size:
                raise JobFailed(f"ClientError: {source}: records {batch.first}-{batch.first + batch.size - 1}"
                                f": the model returned {len(lines)} predictions for {batch.size} records")
            outputs.extend(lines)
        if processing:
            dp = job.data_processing
            assert dp is not None
            out_filter = parse_path(dp.output_filter)
            out_type = job.transform_output.accept or answers[0].content_type if answers else None
            joined = []
            for n, (value, prediction) in enumerate(zip(values, outputs), start=1):
                try:
                    record = join_input(value, prediction, job.transform_input.content_type, out_type) \
                        if dp.join_source == "Input" else decode_record(prediction, out_type)
                    joined.append(encode_record(out_filter.apply(record), job.transform_input.content_type
                                                if dp.join_source == "Input" else out_type))
                except (DataProcessingError, ValueError) as err:
                    raise JobFailed(f"ClientError: {source}: record {n}: {err}") from err
            outputs = joined
        return b"\n".join(outputs) + b"\n"

    async def fail(self, name: str, reason: str) -> None:
        """Fail the job with ``reason``."""
        await self.transform.transition(
            name, TransformJobStatus.FAILED, edit=lambda j: setattr(j, "failure_reason", reason[:FAILURE_REASON_MAX]))


@dataclass
class _Prepared:
    """One object cut into request batches (``values``: decoded records, for DataProcessing)."""

    plan: list[Batch]
    values: list[Any]
    processing: bool


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
