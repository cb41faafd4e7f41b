"""Executing one training job on this machine.

The walk SageMaker's platform takes: Downloading (for every host
``algo-1..N``: its share of the channels, FastFile channels mounted instead
(:mod:`services.inputs.fastfile.mounts`), config files, the script-mode code, restored
checkpoints), Training (one container per host, logs shipped to
CloudWatch, checkpoints synced to S3, ``MaxRuntimeInSeconds``,
``MaxWaitTimeInSeconds`` and ``StopTrainingJob`` enforced with SIGTERM then
SIGKILL), Uploading (``algo-1``'s ``model`` packed to ``model.tar.gz``),
then Completed, Failed (a host's ``output/failure`` becomes
``FailureReason``; so does a last checkpoint upload that failed) or
Stopped. An interruption (the fault-injection control of
:mod:`services.training.spot`, or a lost worker) stops the hosts, shows
``Interrupted`` then ``Restarting`` and runs the job again from its last
checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import os
import tarfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from services.aws.cloudwatch import CloudWatchAdapter
from services.aws.logs import LogsAdapter
from services.aws.s3 import S3Adapter, parse_s3_uri
from services.aws.session import UNREACHABLE_ERRORS
from services.aws.sts import JobCredentials
from services.core.exceptions import JobFailed
from services.core.jobs import JobRuntime
from services.core.settings import Settings
from services.execution.executor import FAILURE_REASON_MAX, ClaimingExecutor
from services.execution.hosts import exit_description, host_names
from services.execution.job_trees import clear_job_trees
from services.execution.log_shipper import TRAINING_LOG_GROUP
from services.inputs.fastfile.mounts import FastFileMounts, mount_fast_files, release_stale_mounts
from services.inputs.pipe.feeds import PipeFeeds
from services.inputs.source_code import is_script_mode
from services.runners.base import Runner, RunSpec, at_base
from services.runners.images import ContainerImage, known_images, resolve_image
from services.training.env import training_env
from services.training.hosts import HostRun, addresses_env, assign_addresses, prepare_host
from services.training.inputs import fast_file_channels, plan_training_pipes
from services.training.metrics import MetricsCollector, Observation, definitions_for
from services.training.models import ModelArtifacts, SecondaryStatus, TrainingJob, TrainingJobStatus
from services.training.service import TrainingService
from services.training.spot import billable_edit, lost_attempt_seconds
from services.training.ssh_hosts import SSH_PORT, SshHost, runs_mpi_driver, write_ssh_hosts

log = logging.getLogger(__name__)

HOST = "algo-1"
MODEL_TAR, OUTPUT_TAR = "model.tar.gz", "output.tar.gz"  # packed beside the host trees, then uploaded


class Outcome(enum.Enum):
    """How an attempt's run ended."""

    EXITED = "exited"
    STOPPED = "stopped"
    MAX_RUNTIME = "max_runtime"
    MAX_WAIT = "max_wait"
    INTERRUPTED = "interrupted"


class TrainingJobExecutor(ClaimingExecutor[TrainingJob]):
    """Runs training jobs end to end with a runner; one call per job attempt."""

    kind = "training"

    def __init__(self, settings: Settings, training: TrainingService, s3: S3Adapter, logs: LogsAdapter,
                 runner: Runner, *, on_line: Callable[[str, str], None] | None = None,
                 cloudwatch: CloudWatchAdapter | None = None, credentials: JobCredentials | None = None) -> None:
        self.settings = settings
        self.credentials = credentials  # the job's role's session for its containers (None: the runner's own)
        self.training = training
        self.s3 = s3
        self.logs = logs
        self.runner = runner
        self.on_line = on_line  # (job name, line): progress hooks for the CLI
        self.cloudwatch = cloudwatch
        # (job name, observation): consumers of live metrics (tuning's early stopping); algo-1's metrics
        self.metric_listeners: list[Callable[[str, Observation], None]] = []
        # job -> host -> its Pipe channels' feeds, planned while downloading, started with the containers
        self._pipes: dict[str, dict[str, PipeFeeds]] = {}
        # job -> host -> its FastFile channels' mounts, made while downloading, ended with the containers
        self._fast_files: dict[str, dict[str, FastFileMounts]] = {}

    @property
    def jobs(self) -> TrainingService:
        """The training job service, whose documents this executor claims."""
        return self.training

    def cpu_share(self) -> int:
        """CPUs one job may use: the machine's, divided among the worker's slots."""
        return max(1, (os.cpu_count() or 1) // max(1, self.settings.worker_concurrency))

    def job_root(self, name: str, host: str = HOST) -> Path:
        """The host directory that is ``host``'s ``/opt/ml`` for job ``name``."""
        return (self.settings.jobs_dir / name / host).resolve()

    async def execute(self, name: str) -> TrainingJob:
        """Run job ``name`` to a terminal status (through any interruptions) and return it; then remove its
        host trees (see :meth:`remove_trees`)."""
        try:
            job = await self._attempts(name)
        finally:
            # Each host's mounts end with its container; this catches an attempt cut short (a cancelled worker).
            await self._drop_fast_files(name)
        await self.remove_trees(job)
        return job

    async def remove_trees(self, job: TrainingJob) -> None:
        """Remove an ended job's host trees and packed archives (its uploads are done); its hosts' logs stay.

        Only once the job is terminal: until then a restarted attempt, perhaps another worker's, owns them.
        """
        if not job.training_job_status.is_terminal or self.settings.keep_job_trees:
            return
        name = job.training_job_name
        hosts = host_names(job.resource_config.instance_count)
        try:
            for host in hosts:  # a mount left behind would refuse removal (or expose S3 to it)
                await release_stale_mounts(self.job_root(name, host))
            await asyncio.to_thread(clear_job_trees, self.job_root(name).parent, hosts, (MODEL_TAR, OUTPUT_TAR))
        except OSError:  # the job's outcome stands: a tree left behind costs disk, not the job
            log.warning("could not remove the host trees of training job %s", name, exc_info=True)

    async def _attempts(self, name: str) -> TrainingJob:
        job = await self.training.describe_training_job(name)
        while True:
            if job.training_job_status.is_terminal:
                return job
            if job.headwater.stop_requested:
                return await self._finish_stopped(name, SecondaryStatus.STOPPED,
                                                  "Training job stopped before it started")
            hosts = host_names(job.resource_config.instance_count)
            try:
                self._check_isolation(job)
                image = self._image(job)
                role_env = await self._role_env(job)
                job = await self._download(job, hosts)
                mpi = await self._mpi(job, image)
            except JobFailed as err:
                await self._drop_pipes(name)
                await self._drop_fast_files(name)
                return await self.fail(name, str(err))
            outcome, runs = await self._train(job, hosts, image, role_env, mpi)
            if outcome is not Outcome.INTERRUPTED:
                return await self._conclude(job, outcome, runs)
            job = await self._interrupted(name, runs)

    async def _role_env(self, job: TrainingJob) -> dict[str, str]:
        """A session of the job's role for this attempt (``JobFailed`` when the role cannot be assumed)."""
        if self.credentials is None:
            return {}
        return await self.credentials.environment(job.role_arn, job.training_job_name,
                                                  job.stopping_condition.max_runtime_in_seconds)

    async def _download(self, job: TrainingJob, hosts: list[str]) -> TrainingJob:
        now = self.training.clock()

        def begin(j: TrainingJob) -> None:
            j.training_start_time = j.training_start_time or now
            j.headwater.attempt_started_at = now

        job = await self.training.transition(
            job.training_job_name, secondary=SecondaryStatus.DOWNLOADING,
            message="Starting the training job: downloading input data", edit=begin)
        await self._drop_fast_files(job.training_job_name)  # an earlier attempt's, should any be left
        fast_files = fast_file_channels(job)
        lazy = frozenset(ch.channel_name for ch in fast_files)  # mounted below, not downloaded
        roots = {h: self.job_root(job.training_job_name, h) for h in hosts}
        restored = await asyncio.gather(*(prepare_host(self.s3, job, roots[h], h, hosts, lazy) for h in hosts))
        if any(restored):
            log.info("%s: restored %d checkpoint file(s) per host", job.training_job_name, max(restored))
        # Filled as mounts go live, so a mount that fails the job leaves the others to be unmounted.
        mounts = self._fast_files[job.training_job_name] = {}
        await mount_fast_files(self.s3, fast_files, roots, self.settings, mounts)
        self._pipes[job.training_job_name] = {
            h: await plan_training_pipes(self.s3, job, roots[h], h, hosts) for h in hosts}
        return job

    def _check_isolation(self, job: TrainingJob) -> None:
        """``EnableNetworkIsolation`` is honoured or the job fails: it never runs with a network it asked not
        to have."""
        if not job.enable_network_isolation:
            return
        reason = self.runner.isolation_unavailable()
        if reason is not None:
            raise JobFailed(f"ClientError: EnableNetworkIsolation cannot be honoured on this node: {reason}")
        if job.resource_config.instance_count > 1:
            # Each host runs without network of its own: the hosts could not reach each other as SageMaker's do.
            raise JobFailed("ClientError: EnableNetworkIsolation with InstanceCount above 1 is not supported by "
                            "Headwater: isolated hosts cannot reach each other here; use one instance")

    async def _mpi(self, job: TrainingJob, image: ContainerImage) -> bool:
        """Whether the job runs MPI (v3's MPI driver): its hosts then need SSH servers of their own, and the
        job fails here, naming what is missing, where the runner cannot give them."""
        if not runs_mpi_driver(self.job_root(job.training_job_name)):
            return False
        missing = await self.runner.missing_for_mpi(image)
        if missing:
            raise JobFailed("ClientError: MPI training (distributed=MPI) runs each host's SSH server and mpirun, "
                            "which needs on this node: " + "; ".join(missing))
        return True

    def _image(self, job: TrainingJob) -> ContainerImage:
        uri = job.algorithm_specification.training_image or job.algorithm_specification.algorithm_name or ""
        image = resolve_image(uri, self.settings.image_interpreters)
        if image is None:
            raise JobFailed(f"ClientError: No container is known for image {uri!r}. "
                            f"Built-in images: the SageMaker algorithm image URIs, or {', '.join(known_images())}")
        if image.python and not job.algorithm_specification.container_entrypoint:
            raise JobFailed(f"ClientError: Image {uri!r} has no Headwater container, only an interpreter standing "
                            "in for it (image_interpreters), which runs the job's own program: "
                            "AlgorithmSpecification.ContainerEntrypoint is required")
        if image.name == "xgboost" and is_script_mode(job.hyper_parameters):
            # SageMaker's XGBoost image is also the framework image: a job naming
            # an entry point runs the user's script.
            image = resolve_image("headwater/xgboost_framework") or image
        return image

    def _spec(self, job: TrainingJob, image: ContainerImage, host: str, hosts: list[str],
              addresses: dict[str, str], role_env: dict[str, str], ssh: SshHost | None = None) -> RunSpec:
        name = job.training_job_name
        root = self.job_root(name, host)
        algorithm = job.algorithm_specification
        # User scripts and a user's own entrypoint may hardcode /opt/ml.
        literal = is_script_mode(job.hyper_parameters) or bool(algorithm.container_entrypoint)
        probe = RunSpec(name, image, [], root, literal_paths=literal,
                        network_isolated=bool(job.enable_network_isolation))
        base = self.runner.base_dir(probe)
        env = training_env(job, base, host, hosts, num_cpus=max(1, self.cpu_share() // len(hosts)))
        env.update(addresses_env(addresses))
        env.update(role_env)
        if ssh is not None:
            env.update(ssh.env)
        # As Docker's --entrypoint and CMD: ContainerEntrypoint replaces the image's entrypoint (and its
        # default `train` argument); ContainerArguments are the arguments, of either entrypoint.
        entrypoint = at_base(algorithm.container_entrypoint, base) if algorithm.container_entrypoint else None
        if algorithm.container_arguments:
            command = at_base(algorithm.container_arguments, base)
        else:
            command = [] if entrypoint else ["train"]
        # As on SageMaker, each host reaches the others by name (the SDK v3's drivers: torchrun's
        # --master_addr=algo-1); here every host is on this machine's loopback.
        names = {h: address.rpartition(":")[0] for h, address in addresses.items()}
        return RunSpec(name=f"{name}-{host}", image=image, command=command, ml_root=root, env=env,
                       entrypoint=entrypoint, literal_paths=literal, hosts=names,
                       network_isolated=bool(job.enable_network_isolation),
                       view=ssh.view if ssh is not None else None)

    async def _train(self, job: TrainingJob, hosts: list[str], image: ContainerImage, role_env: dict[str, str],
                     mpi: bool = False) -> tuple[Outcome, list[HostRun]]:
        """Run one container per host to the end of the attempt; the outcome and the hosts' runs
        (none when a container could not start: the job is failed already). ``mpi``: each host with an SSH
        server of its own (:mod:`services.training.ssh_hosts`)."""
        name = job.training_job_name
        stamp = int(time.time())

        def started(j: TrainingJob) -> None:
            j.headwater.log_stream = f"{name}/{HOST}-{stamp}"

        await self.training.transition(name, secondary=SecondaryStatus.TRAINING,
                                       message="Training image download completed. Training in progress.",
                                       edit=started)
        runs = self._host_runs(job, hosts, image, stamp)
        async with contextlib.AsyncExitStack() as stack:
            for run in runs:
                await stack.enter_async_context(run.shipper)
                for note in run.fast_files.notes:  # mounted, or why a FastFile channel was downloaded
                    run.shipper.add(f"Headwater: {note}")
            async with self._metrics_published(name, runs):
                try:
                    error = await self._start_hosts(job, image, hosts, runs, role_env, mpi)
                    outcome = Outcome.EXITED if error else await self._supervise(job, runs)
                except BaseException:
                    # The attempt was cut short (its claim was lost, or the worker is cancelled): its
                    # containers end with it, and it writes nothing more, not even a last checkpoint.
                    for run in runs:
                        await run.abandon(self.settings.stop_grace_seconds)
                    raise
                for run in runs:
                    if error:
                        await run.stop(self.settings.stop_grace_seconds)
                    await run.finish()
            if error:
                await self.fail(name, f"InternalServerError: could not start the container: {error}")
                return Outcome.EXITED, []
        return outcome, runs

    def _host_runs(self, job: TrainingJob, hosts: list[str], image: ContainerImage, stamp: int) -> list[HostRun]:
        """One run per host, with the Pipe feeds and FastFile mounts its download planned, and the
        metric listeners (tuning's early stopping) on ``algo-1``."""
        name = job.training_job_name
        definitions = definitions_for(image.name, job.algorithm_specification.metric_definitions)
        runs = [HostRun.create(self.logs, name, self.job_root(name, h), h, MetricsCollector(definitions), stamp)
                for h in hosts]
        pipes = self._pipes.pop(name, {})
        fast_files = self._fast_files.get(name, {})  # left registered: execute() ends any a cut-short attempt left
        for run in runs:
            run.pipes = pipes.get(run.host) or run.pipes
            run.fast_files = fast_files.get(run.host) or run.fast_files
        for listener in self.metric_listeners:
            runs[0].collector.listeners.append(lambda obs, f=listener: f(name, obs))
        return runs

    async def _start_hosts(self, job: TrainingJob, image: ContainerImage, hosts: list[str],
                           runs: list[HostRun], role_env: dict[str, str], mpi: bool = False) -> Exception | None:
        """Start every host's container, its Pipe feeds first; the error that stopped a start, else ``None``."""
        name = job.training_job_name
        line_hook = (lambda line: self.on_line(name, line)) if self.on_line else None
        try:
            # One host too: a script may init torch.distributed with a world of one.
            addresses = assign_addresses(hosts, own_port=SSH_PORT if mpi else None)
            ssh = await write_ssh_hosts({h: self.job_root(name, h) for h in hosts},
                                        {h: a.rpartition(":")[0] for h, a in addresses.items()}) if mpi else {}
            for run in runs:
                run.pipes.start()  # each writer waits for the container to open its FIFO
                spec = self._spec(job, image, run.host, hosts, addresses, role_env, ssh.get(run.host))
                if spec.entrypoint and self.runner.base_dir(spec) != "/opt/ml":
                    run.shipper.add("Headwater: private /opt/ml is not available on this kernel; /opt/ml in "
                                    "ContainerEntrypoint and ContainerArguments is rewritten to the job directory")
                container = await self.runner.start(spec)
                run.shipper.add(f"Headwater: started {image.label} ({container.ident}) for {name}"
                                + (f" as {run.host} of {len(hosts)}" if len(hosts) > 1 else ""))
                run.begin(container, line_hook, self.training.clock, self.s3, job)
        except Exception as err:  # noqa: BLE001 - reported as the job's reason
            return err
        return None

    @contextlib.asynccontextmanager
    async def _metrics_published(self, name: str, runs: list[HostRun]) -> AsyncIterator[None]:
        """Every host's metric points put to CloudWatch about once a second while the block runs,
        and what is left once it ends."""
        pending: list[tuple[str, Observation]] = []
        for run in runs:
            run.collector.listeners.append(lambda obs, h=run.host: pending.append((h, obs)))
        done = asyncio.Event()
        publisher = asyncio.create_task(self._publish_metrics(name, pending, done))
        try:
            yield
        finally:
            done.set()
            await publisher

    async def _publish_metrics(self, name: str, pending: list[tuple[str, Observation]], done: asyncio.Event) -> None:
        # Stopped by an event, never cancelled: a cancelled put would lose its batch.
        while not done.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=1.0)
            batch, pending[:] = list(pending), []
            if not batch or self.cloudwatch is None:
                continue
            try:
                await self.cloudwatch.put(TRAINING_LOG_GROUP, [
                    (o.name, o.value, o.timestamp, {"Host": f"{name}/{host}"}) for host, o in batch])
            except Exception:  # noqa: BLE001 - metrics are best effort
                log.warning("could not put %d metric points of %s", len(batch), name, exc_info=True)

    async def _supervise(self, job: TrainingJob, runs: list[HostRun]) -> Outcome:
        """Wait for every host; enforce limits, stop and interrupt requests, and a failing host."""
        cond = job.stopping_condition
        spent = job.headwater.billable_seconds if job.enable_managed_spot_training else 0.0
        deadline = time.monotonic() + max(1.0, (cond.max_runtime_in_seconds or 86400) - spent)
        wait_deadline = None
        if job.enable_managed_spot_training and cond.max_wait_time_in_seconds and job.training_start_time:
            elapsed = (self.training.clock() - job.training_start_time).total_seconds()
            wait_deadline = time.monotonic() + cond.max_wait_time_in_seconds - elapsed
        waiters = {run.waiter: run for run in runs if run.waiter is not None}
        outcome = Outcome.EXITED
        while True:
            # Twice a second: a stop or an interrupt should land within a round or two.
            finished, _ = await asyncio.wait(set(waiters), timeout=0.5)
            for w in finished:
                waiters.pop(w).code = w.result()
            failed = any(r.code not in (None, 0) for r in runs) or any(r.pipes.error for r in runs)
            if not waiters or failed:
                break
            if time.monotonic() >= deadline:
                outcome = Outcome.MAX_RUNTIME
            elif wait_deadline is not None and time.monotonic() >= wait_deadline:
                outcome = Outcome.MAX_WAIT
            else:
                try:
                    current = await self.training.describe_training_job(job.training_job_name)
                except UNREACHABLE_ERRORS:  # the containers run on: the next round looks again
                    continue
                if current.headwater.stop_requested:
                    outcome = Outcome.STOPPED
                elif current.headwater.interrupt_requested:
                    outcome = Outcome.INTERRUPTED
            if outcome is not Outcome.EXITED:
                break
        # A host that failed fails the job: its peers are stopped (they would wait on it forever).
        await asyncio.gather(*(run.stop(self.settings.stop_grace_seconds) for run in runs))
        for run in runs:
            if run.code is None and run.waiter is not None:
                run.code = await run.waiter
        return outcome

    async def _interrupted(self, name: str, runs: list[HostRun]) -> TrainingJob:
        """Record an interruption and the time it ran; then Restarting (or MaxWaitTimeExceeded)."""
        ran = max((time.monotonic() - r.started for r in runs), default=0.0)

        def note(j: TrainingJob) -> None:
            j.headwater.interrupt_requested = False
            j.headwater.interruptions += 1
            j.headwater.billable_seconds += ran

        job = await self.training.transition(
            name, secondary=SecondaryStatus.INTERRUPTED, edit=note,
            message="Training job interrupted: the instances were reclaimed; it resumes from its last checkpoint")
        return await self.training.transition(
            name, secondary=SecondaryStatus.RESTARTING,
            message=f"Restarting the training job (interruption {job.headwater.interruptions})")

    async def _conclude(self, job: TrainingJob, outcome: Outcome, runs: list[HostRun]) -> TrainingJob:
        name = job.training_job_name
        if not runs:  # the containers never started; the job was failed already
            return await self.training.describe_training_job(name)
        ran = max(time.monotonic() - r.started for r in runs)
        billing = billable_edit(job, ran)
        # The containers have ended: each write below waits out an AWS endpoint that does not answer for a
        # while rather than abandon what they did (the task's retry would run the job again).
        keep = functools.partial(self.wait_out_unreachable, name)
        final = runs[0].collector.final()
        if final:
            await keep(lambda: self.training.transition(
                name, edit=lambda j: setattr(j, "final_metric_data_list", final)))
        pipe_error = next((r.pipes.error for r in runs if r.pipes.error), None)
        if pipe_error is not None and outcome is Outcome.EXITED:  # the stream broke: that is the reason
            return await keep(lambda: self.fail(name, pipe_error, billing))
        failed = next((r for r in runs if r.code not in (None, 0) and not r.stopped_by_platform), None)
        if failed is not None and outcome is Outcome.EXITED:
            reason = failure_reason(failed.root, failed.code or 1, list(failed.shipper.tail))
            if failed.fast_files.error:  # a read the mount could not serve (EIO) comes first: the likely cause
                reason = f"{failed.fast_files.error}. The training container then failed: {reason}"
            if len(runs) > 1:
                reason = f"{failed.host}: {reason}"
            return await keep(lambda: self.fail(name, reason, billing))
        unsynced = next((r for r in runs if r.sync_failure is not None), None)
        if unsynced is not None:  # the job would end without its last checkpoints in S3: SageMaker fails it
            host = f"{unsynced.host}: " if len(runs) > 1 else ""
            return await keep(lambda: self.fail(
                name, f"{host}ClientError: the checkpoints could not be uploaded at the end of the job: "
                      f"{unsynced.sync_failure}", billing))
        await keep(lambda: self.training.transition(name, secondary=SecondaryStatus.UPLOADING,
                                                    message="Uploading generated training model"))
        artifacts = await keep(lambda: self._upload(job, runs[0].root))

        def done(j: TrainingJob) -> None:
            j.model_artifacts = ModelArtifacts(s3_model_artifacts=artifacts)
            billing(j)

        if outcome is Outcome.EXITED:
            return await keep(lambda: self.training.transition(
                name, TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED, "Training job completed", edit=done))
        if outcome is Outcome.MAX_RUNTIME:
            return await keep(lambda: self.training.transition(
                name, TrainingJobStatus.STOPPED, SecondaryStatus.MAX_RUNTIME_EXCEEDED,
                f"Training job stopped: it exceeded MaxRuntimeInSeconds "
                f"({job.stopping_condition.max_runtime_in_seconds})", edit=done))
        if outcome is Outcome.MAX_WAIT:
            return await keep(lambda: self.training.transition(
                name, TrainingJobStatus.STOPPED, SecondaryStatus.MAX_WAIT_TIME_EXCEEDED,
                f"Training job stopped: it exceeded MaxWaitTimeInSeconds "
                f"({job.stopping_condition.max_wait_time_in_seconds})", edit=done))
        return await keep(lambda: self._finish_stopped(name, SecondaryStatus.STOPPED, "Training job stopped",
                                                       edit=done))

    async def _upload(self, job: TrainingJob, root: Path) -> str:
        """Pack ``algo-1``'s ``model/`` (and ``output/data`` when not empty) and upload them."""
        bucket, prefix = parse_s3_uri(job.output_data_config.s3_output_path)
        base = f"{prefix.rstrip('/')}/{job.training_job_name}/output".lstrip("/")
        model_tar = root.parent / MODEL_TAR
        await asyncio.to_thread(pack_dir, root / "model", model_tar)
        await self.s3.upload_file(model_tar, bucket, f"{base}/{MODEL_TAR}", "application/x-gzip")
        data_dir = root / "output/data"
        if data_dir.is_dir() and any(data_dir.iterdir()):
            out_tar = root.parent / OUTPUT_TAR
            await asyncio.to_thread(pack_dir, data_dir, out_tar)
            await self.s3.upload_file(out_tar, bucket, f"{base}/{OUTPUT_TAR}", "application/x-gzip")
        return f"s3://{bucket}/{base}/{MODEL_TAR}"

    async def _drop_pipes(self, name: str) -> None:
        """Remove the FIFOs planned for a job that will not run."""
        for feeds in self._pipes.pop(name, {}).values():
            await feeds.close()

    async def _drop_fast_files(self, name: str) -> None:
        """End every mount still live for a job (idempotent: ended mounts are skipped)."""
        for mounts in self._fast_files.pop(name, {}).values():
            await mounts.unmount()

    async def fail(self, name: str, reason: str,
                    also: Callable[[TrainingJob], None] | None = None) -> TrainingJob:
        """Fail the job with ``reason`` (and ``also`` applied), secondary status ``Failed``."""

        def edit(j: TrainingJob) -> None:
            j.failure_reason = reason[:FAILURE_REASON_MAX]
            if also:
                also(j)

        return await self.training.transition(name, TrainingJobStatus.FAILED, SecondaryStatus.FAILED,
                                              "Training job failed", edit=edit)

    async def _finish_stopped(self, name: str, secondary: SecondaryStatus, message: str,
                              edit: Callable[[TrainingJob], None] | None = None) -> TrainingJob:
        return await self.training.transition(name, TrainingJobStatus.STOPPED, secondary, message, edit=edit)

    # --- how a job resumes when its worker died (the rest of the claim: ClaimingExecutor) ---------

    async def restart(self, job: TrainingJob, take: Callable[[JobRuntime], None]) -> TrainingJob:
        """Claim a job whose earlier worker died: it shows ``Restarting`` and resumes from its checkpoints.

        A spot job first shows ``Interrupted``, its hosts' time so far counted as billable.
        """
        name = job.training_job_name
        why = "its worker stopped and handed it back" if job.headwater.handed_back else "its worker was lost"
        restarting = f"Restarting the job after {why} (attempt {job.headwater.attempts + 1})"
        if not job.enable_managed_spot_training:
            return await self.training.transition(name, secondary=SecondaryStatus.RESTARTING, message=restarting,
                                                  edit=lambda j: take(j.headwater))

        def lost(j: TrainingJob) -> None:
            ran = lost_attempt_seconds(j)  # before take() moves the heartbeat
            take(j.headwater)
            j.headwater.interruptions += 1
            j.headwater.billable_seconds += ran

        await self.training.transition(
            name, secondary=SecondaryStatus.INTERRUPTED, edit=lost,
            message=f"Training job interrupted: {why}; it resumes from its last checkpoint")
        return await self.training.transition(name, secondary=SecondaryStatus.RESTARTING, message=restarting)


def failure_reason(root: Path, code: int, tail: list[str]) -> str:
    """``output/failure`` when the container wrote one; else the exit code and the log's tail."""
    failure = root / "output/failure"
    if failure.is_file():
        text = failure.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return text
    how = exit_description(code)
    last = " | ".join(line.strip() for line in tail[-5:] if line.strip())
    return f"AlgorithmError: the training container failed ({how}). Last log lines: {last}"


def pack_dir(src: Path, dest: Path) -> None:
    """Write ``src``'s contents (not ``src`` itself) to the gzipped tar ``dest``."""
    with tarfile.open(dest, "w:gz") as tar:
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(src)), recursive=False)
