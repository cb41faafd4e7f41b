"""Executing one processing job on this machine.

For every instance ``algo-1..N``: its own ``/opt/ml`` tree with the inputs
under ``/opt/ml/processing/...`` (all of each, or its ``ShardedByS3Key``
share), ``/opt/ml/config/{resourceconfig,processingjobconfig}.json``; the
image's ``ContainerEntrypoint`` and ``ContainerArguments`` run with the
literal ``/opt/ml`` (a private mount namespace; where the kernel refuses one,
``/opt/ml`` in the entrypoint and arguments is rewritten to the job's
directory and the log says so). ``Continuous`` outputs are synced while it
runs (a last sync that fails fails the job), ``EndOfJob`` outputs uploaded
when every instance succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path, PurePosixPath

from services.aws.cloudwatch import CloudWatchAdapter
from services.aws.logs import LogsAdapter
from services.aws.s3 import S3Adapter
from services.aws.session import UNREACHABLE_ERRORS
from services.aws.sts import JobCredentials
from services.core.exceptions import JobFailed
from services.core.settings import Settings
from services.execution.executor import FAILURE_REASON_MAX, ClaimingExecutor
from services.execution.hosts import exit_description, host_names
from services.execution.job_trees import clear_job_trees, clear_tree
from services.execution.log_shipper import LogShipper
from services.execution.metric_files import publish_metric_files
from services.execution.s3_sync import CheckpointSync, SyncFailure
from services.inputs.channels import download_channel
from services.inputs.models import Channel, DataSource, S3DataSource
from services.inputs.pipe.feed import PipeFeed
from services.inputs.pipe.feeds import PipeFeeds, channel_stream
from services.processing.models import ProcessingInput, ProcessingJob, ProcessingJobStatus
from services.processing.service import KIND, ProcessingService
from services.runners.base import Runner, RunningContainer, RunSpec, at_base
from services.runners.images import known_images, resolve_image

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


def input_channel(inp: ProcessingInput) -> Channel:
    """A processing input as the training channel shape the download and Pipe code share."""
    src = inp.s3_input
    assert src is not None
    return Channel(channel_name=inp.input_name, compression_type=src.s3_compression_type,
                   data_source=DataSource(s3_data_source=S3DataSource(
                       s3_uri=src.s3_uri, s3_data_type=src.s3_data_type,
                       s3_data_distribution_type=src.s3_data_distribution_type)))


def host_path(root: Path, local_path: str) -> Path:
    """Where an ``/opt/ml/...`` path lies in a host tree (validated at create)."""
    return root.joinpath(*PurePosixPath(local_path).relative_to("/opt/ml").parts)


class ProcessingJobExecutor(ClaimingExecutor[ProcessingJob]):
    """Runs processing jobs end to end; the worker's ``processing`` kind."""

    kind = KIND

    def __init__(self, settings: Settings, processing: ProcessingService, s3: S3Adapter, logs: LogsAdapter,
                 runner: Runner, cloudwatch: CloudWatchAdapter | None = None,
                 credentials: JobCredentials | None = None) -> None:
        self.cloudwatch = cloudwatch
        self.credentials = credentials  # the job's role's session for its containers (None: the runner's own)
        self.settings = settings
        self.processing = processing
        self.s3 = s3
        self.logs = logs
        self.runner = runner

    @property
    def jobs(self) -> ProcessingService:
        """The processing job service, whose documents this executor claims."""
        return self.processing

    def job_root(self, name: str, host: str = "algo-1") -> Path:
        """``host``'s ``/opt/ml`` for job ``name``."""
        return (self.settings.jobs_dir / "processing" / name / host).resolve()

    async def execute(self, name: str) -> ProcessingJob:
        """Run job ``name`` to a terminal status and return it; then remove its host trees (see
        :meth:`remove_trees`)."""
        job = await self._execute(name)
        await self.remove_trees(job)
        return job

    async def remove_trees(self, job: ProcessingJob) -> None:
        """Remove an ended job's host trees (its outputs are uploaded); its hosts' logs stay.

        Only once the job is terminal: until then a restarted attempt, perhaps another worker's, owns them.
        """
        if not job.processing_job_status.is_terminal or self.settings.keep_job_trees:
            return
        name = job.processing_job_name
        try:
            await asyncio.to_thread(clear_job_trees, self.job_root(name).parent,
                                    host_names(job.processing_resources.cluster_config.instance_count))
        except OSError:  # the job's outcome stands: a tree left behind costs disk, not the job
            log.warning("could not remove the host trees of processing job %s", name, exc_info=True)

    async def _execute(self, name: str) -> ProcessingJob:
        job = await self.processing.describe_processing_job(name)
        if job.processing_job_status.is_terminal:
            return job
        if job.headwater.stop_requested:
            return await self.processing.transition(name, ProcessingJobStatus.STOPPED)
        job = await self.processing.transition(
            name, edit=lambda j: setattr(j, "processing_start_time", j.processing_start_time or self.processing.clock()))
        hosts = host_names(job.processing_resources.cluster_config.instance_count)
        pipes: list[PipeFeeds] = []
        try:
            image = resolve_image(job.app_specification.image_uri, self.settings.image_interpreters)
            if image is None:
                raise JobFailed(f"ClientError: No container is known for image {job.app_specification.image_uri!r}"
                                f" (known: the SageMaker framework image URIs, or {', '.join(known_images())})")
            if image.python and not job.app_specification.container_entrypoint:
                raise JobFailed(f"ClientError: Image {job.app_specification.image_uri!r} has no Headwater container, "
                                "only an interpreter standing in for it (image_interpreters), which runs the job's "
                                "own program: AppSpecification.ContainerEntrypoint is required")
            role_env = {} if self.credentials is None else await self.credentials.environment(
                job.role_arn, name, job.stopping_condition.max_runtime_in_seconds if job.stopping_condition else None)
            for host in hosts:
                await self._prepare(job, host, hosts)
                pipes.append(await self._plan_pipes(job, host, hosts))
        except JobFailed as err:
            for feeds in pipes:
                await feeds.close()
            return await self.fail(name, str(err))
        specs = [self._spec(job, image, h, hosts, role_env) for h in hosts]
        return await self._run(job, specs, pipes)

    async def _prepare(self, job: ProcessingJob, host: str, hosts: list[str]) -> None:
        root = self.job_root(job.processing_job_name, host)
        await asyncio.to_thread(clear_tree, root)  # a restarted attempt starts from a clean tree
        for d in ("config", "output"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "config/resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
        (root / "config/processingjobconfig.json").write_text(json.dumps(job.describe(), default=str))
        for inp in job.processing_inputs or []:
            src = inp.s3_input
            assert src is not None and src.local_path is not None  # checked at create
            if src.s3_input_mode == "Pipe":  # streamed into <LocalPath>_0 once the container runs
                continue
            channel = input_channel(inp)
            await download_channel(self.s3, channel, host_path(root, src.local_path),
                                   shard=(hosts.index(host), len(hosts)))
        for out in self._outputs(job):
            host_path(root, out.s3_output.local_path).mkdir(parents=True, exist_ok=True)

    async def _plan_pipes(self, job: ProcessingJob, host: str, hosts: list[str]) -> PipeFeeds:
        """``host``'s Pipe inputs: the FIFO ``<LocalPath>_0`` made for each (then ``_1``, ... per pass)."""
        root = self.job_root(job.processing_job_name, host)
        feeds = PipeFeeds()
        for inp in job.processing_inputs or []:
            src = inp.s3_input
            if src is None or src.local_path is None or src.s3_input_mode != "Pipe":
                continue
            stream = await channel_stream(self.s3, input_channel(inp), (hosts.index(host), len(hosts)))
            local = host_path(root, src.local_path)
            feeds.feeds.append(PipeFeed(local.parent, local.name, stream.chunks))
        return feeds

    @staticmethod
    def _outputs(job: ProcessingJob) -> list:  # noqa: ANN205 - list[ProcessingOutput]
        return [o for o in (job.processing_output_config.outputs if job.processing_output_config else [])
                if o.s3_output is not None]

    def _spec(self, job: ProcessingJob, image, host: str, hosts: list[str],  # noqa: ANN001
              role_env: dict[str, str]) -> RunSpec:
        root = self.job_root(job.processing_job_name, host)
        app = job.app_specification
        probe = RunSpec(job.processing_job_name, image, [], root, literal_paths=True)
        base = self.runner.base_dir(probe)
        env = {"PROCESSING_JOB_NAME": job.processing_job_name, **(job.environment or {}), **role_env}
        return RunSpec(name=f"{job.processing_job_name}-{host}", image=image,
                       command=at_base(app.container_arguments or [], base), ml_root=root, env=env,
                       entrypoint=at_base(app.container_entrypoint, base) if app.container_entrypoint else None,
                       literal_paths=True)

    async def _run(self, job: ProcessingJob, specs: list[RunSpec], pipes: list[PipeFeeds]) -> ProcessingJob:
        name = job.processing_job_name
        stamp = int(time.time())
        outputs = self._outputs(job)
        sync_done = asyncio.Event()
        syncs: list[asyncio.Task[None]] = []
        continuous: list[tuple[str, CheckpointSync]] = []  # (OutputName, its sync) per host
        containers: list[RunningContainer] = []
        async with contextlib.AsyncExitStack() as stack:
            shippers = [await stack.enter_async_context(LogShipper(
                self.logs, LOG_GROUP, f"{name}/{spec.ml_root.name}-{stamp}",
                spec.ml_root.parent / f"{spec.ml_root.name}.log")) for spec in specs]
            try:
                for spec, shipper, feeds in zip(specs, shippers, pipes):
                    feeds.start()  # each writer waits for the container to open its FIFO
                    if spec.literal_paths and self.runner.base_dir(spec) != "/opt/ml":
                        shipper.add("Headwater: private /opt/ml is not available on this kernel; "
                                    "/opt/ml paths are rewritten to the job directory")
                    containers.append(await self.runner.start(spec))
                    shipper.add(f"Headwater: started {spec.image.label} ({containers[-1].ident}) for {name}")
            except Exception as err:  # noqa: BLE001 - reported as the job's reason
                for c in containers:
                    await c.kill()
                for feeds in pipes:
                    await feeds.close()
                return await self.fail(name, f"InternalServerError: could not start the container: {err}")
            pumps = [asyncio.create_task(self._pump(c, s)) for c, s in zip(containers, shippers)]
            for spec in specs:
                for out in outputs:
                    if out.s3_output.s3_upload_mode == "Continuous":
                        sync = CheckpointSync(self.s3, out.s3_output.s3_uri, host_path(spec.ml_root,
                                                                                          out.s3_output.local_path))
                        continuous.append((out.output_name, sync))
                        syncs.append(asyncio.create_task(sync.run(sync_done)))
            outcome, codes = await self._supervise(job, containers, pipes)
            for feeds in pipes:  # no FIFO writer outlives its container
                await feeds.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pumps), timeout=10)
            sync_done.set()
            await asyncio.gather(*syncs, return_exceptions=True)
            unsynced = next(((n, s.final_failure) for n, s in continuous if s.final_failure is not None), None)
            if unsynced is not None:
                shippers[0].add(f"Headwater: the final upload of output {unsynced[0]!r} failed: {unsynced[1]}")
            tails = [list(s.tail) for s in shippers]
        pipe_error = next((f.error for f in pipes if f.error), None)
        if pipe_error is not None and outcome == "exited":  # the stream broke: that is the reason
            return await self.fail(name, pipe_error)
        return await self._conclude(job, specs, outcome, codes, tails, unsynced)

    @staticmethod
    async def _pump(container: RunningContainer, shipper: LogShipper) -> None:
        async for line in container.lines():
            shipper.add(line)

    async def _supervise(self, job: ProcessingJob, containers: list[RunningContainer],
                         pipes: list[PipeFeeds]) -> tuple[str, list[int | None]]:
        limit = job.stopping_condition.max_runtime_in_seconds if job.stopping_condition else 86400
        deadline = time.monotonic() + limit
        waiters = [asyncio.create_task(c.wait()) for c in containers]
        outcome = "exited"
        try:
            while True:
                await asyncio.wait(waiters, timeout=1.0)
                codes = [w.result() if w.done() else None for w in waiters]
                if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
                    break
                if any(f.error for f in pipes):  # a broken input stream fails the job; stop its readers
                    break
                if time.monotonic() >= deadline:
                    outcome = "max_runtime"
                    break
                try:
                    current = await self.processing.describe_processing_job(job.processing_job_name)
                except UNREACHABLE_ERRORS:  # the containers run on: the next round looks again
                    continue
                if current.headwater.stop_requested:
                    outcome = "stopped"
                    break
        finally:  # also when the attempt is cut short (its claim lost): no container outlives it
            for c, w in zip(containers, waiters):
                if not w.done():
                    await c.terminate()
            done, pending = await asyncio.wait(waiters, timeout=self.settings.stop_grace_seconds)
            for c, w in zip(containers, waiters):
                if w in pending:
                    await c.kill()
            await asyncio.gather(*waiters, return_exceptions=True)
        return outcome, codes

    async def _conclude(self, job: ProcessingJob, specs: list[RunSpec], outcome: str, codes: list[int | None],
                        tails: list[list[str]], unsynced: tuple[str, SyncFailure] | None = None) -> ProcessingJob:
        name = job.processing_job_name
        message_file = specs[0].ml_root / "output/message"
        exit_message = message_file.read_text(errors="replace").strip()[:1024] if message_file.is_file() else None
        failed = next((i for i, c in enumerate(codes) if c not in (None, 0)), None)
        if failed is not None and outcome == "exited":
            code = codes[failed] or 1
            how = exit_description(code)
            last = " | ".join(line.strip() for line in tails[failed][-8:] if line.strip())
            host = f"{specs[failed].ml_root.name}: " if len(specs) > 1 else ""
            return await self.fail(name, f"{host}AlgorithmError: the processing container failed ({how}). "
                                          f"Last log lines: {last}", exit_message)
        if unsynced is not None:  # a Continuous output missing its last files in S3: SageMaker fails the job
            output, failure = unsynced
            return await self.fail(name, f"ClientError: output {output!r} could not be uploaded at the end of the "
                                         f"job: {failure}", exit_message)
        if outcome == "exited":
            for spec in specs:
                for out in self._outputs(job):
                    if out.s3_output.s3_upload_mode == "EndOfJob":
                        await CheckpointSync(self.s3, out.s3_output.s3_uri,
                                             host_path(spec.ml_root, out.s3_output.local_path)).sync_once()
            if self.cloudwatch is not None:
                for spec in specs:  # metrics the container wrote as files (e.g. the Model Monitor analyzer's)
                    try:
                        await publish_metric_files(self.cloudwatch, spec.ml_root)
                    except Exception:  # noqa: BLE001 - metrics are best effort; the job's result stands
                        log.warning("could not publish the metric files of %s", name, exc_info=True)
            return await self.processing.transition(
                name, ProcessingJobStatus.COMPLETED, edit=lambda j: setattr(j, "exit_message", exit_message))
        reason = (f"Processing job stopped: it exceeded MaxRuntimeInSeconds "
                  f"({job.stopping_condition.max_runtime_in_seconds})" if outcome == "max_runtime" else None)

        def stopped(j: ProcessingJob) -> None:
            j.exit_message = exit_message
            j.failure_reason = reason

        return await self.processing.transition(name, ProcessingJobStatus.STOPPED, edit=stopped)

    async def fail(self, name: str, reason: str, exit_message: str | None = None) -> ProcessingJob:
        """Fail the job with ``reason`` (and the container's exit message, when it wrote one)."""

        def edit(j: ProcessingJob) -> None:
            j.failure_reason = reason[:FAILURE_REASON_MAX]
            j.exit_message = exit_message

        return await self.processing.transition(name, ProcessingJobStatus.FAILED, edit=edit)
