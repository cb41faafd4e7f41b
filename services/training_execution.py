"""Executing one training job on this machine.

The walk SageMaker's platform takes for a host: Downloading (channels into
``input/data``, config files), Training (the container, its log shipped to
CloudWatch, ``MaxRuntimeInSeconds`` and ``StopTrainingJob`` enforced with
SIGTERM then SIGKILL), Uploading (``model`` packed to ``model.tar.gz``),
then Completed, Failed (``output/failure`` becomes ``FailureReason``) or
Stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import shutil
import tarfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from infra.settings import Settings
from services.aws.cloudwatch import CloudWatchAdapter
from services.aws.logs import LogsAdapter, escape_control
from services.aws.s3 import S3Adapter, parse_s3_uri
from services.channels import download_channel
from services.exceptions import JobFailed
from services.images import known_images, resolve_image
from services.jobs import HeldElsewhere
from services.log_shipper import TRAINING_LOG_GROUP, LogShipper
from services.metrics import MetricsCollector, Observation, definitions_for
from services.models.training import ModelArtifacts, SecondaryStatus, TrainingJob, TrainingJobStatus
from services.runners.base import Runner, RunningContainer, RunSpec
from services.training import TrainingService
from services.training_env import prepare_tree, training_env, write_config

log = logging.getLogger(__name__)

FAILURE_REASON_MAX = 1024
HOST = "algo-1"


class Outcome(enum.Enum):
    """How the container's run ended."""

    EXITED = "exited"
    STOPPED = "stopped"
    MAX_RUNTIME = "max_runtime"


class TrainingJobExecutor:
    """Runs training jobs end to end with a runner; one call per job attempt."""

    def __init__(self, settings: Settings, training: TrainingService, s3: S3Adapter, logs: LogsAdapter,
                 runner: Runner, *, on_line: Callable[[str, str], None] | None = None,
                 cloudwatch: CloudWatchAdapter | None = None) -> None:
        self.settings = settings
        self.training = training
        self.s3 = s3
        self.logs = logs
        self.runner = runner
        self.on_line = on_line  # (job name, line): progress hooks for the CLI
        self.cloudwatch = cloudwatch
        # (job name, observation): consumers of live metrics (tuning's early stopping)
        self.metric_listeners: list[Callable[[str, Observation], None]] = []

    def cpu_share(self) -> int:
        """CPUs one job may use: the machine's, divided among the worker's slots."""
        return max(1, (os.cpu_count() or 1) // max(1, self.settings.worker_concurrency))

    def job_root(self, name: str) -> Path:
        """The host directory that is this job's ``/opt/ml``."""
        return (self.settings.jobs_dir / name / HOST).resolve()

    async def execute(self, name: str) -> TrainingJob:
        """Run job ``name`` to a terminal status and return it."""
        job = await self.training.describe_training_job(name)
        if job.training_job_status.is_terminal:
            return job
        if job.headwater.stop_requested:
            return await self._finish_stopped(name, SecondaryStatus.STOPPED, "Training job stopped before it started")
        root = self.job_root(name)
        try:
            await self._download(job, root)
            image = self._image(job)
        except JobFailed as err:
            return await self._fail(name, str(err))
        return await self._train(job, root, image)

    async def _download(self, job: TrainingJob, root: Path) -> None:
        await self.training.transition(
            job.training_job_name, secondary=SecondaryStatus.DOWNLOADING,
            message="Starting the training job: downloading input data",
            edit=lambda j: setattr(j, "training_start_time", j.training_start_time or self.training.clock()))
        if root.exists():  # a restarted attempt starts from a clean tree
            await asyncio.to_thread(shutil.rmtree, root)
        prepare_tree(root)
        write_config(root, job, HOST)
        for ch in job.input_data_config or []:
            await download_channel(self.s3, ch, root / "input/data" / ch.channel_name)

    @staticmethod
    def _image(job: TrainingJob):  # noqa: ANN205 - ContainerImage
        uri = job.algorithm_specification.training_image or job.algorithm_specification.algorithm_name or ""
        image = resolve_image(uri)
        if image is None:
            raise JobFailed(f"ClientError: No container is known for image {uri!r}. "
                            f"Built-in images: the SageMaker algorithm image URIs, or {', '.join(known_images())}")
        return image

    async def _train(self, job: TrainingJob, root: Path, image) -> TrainingJob:  # noqa: ANN001
        name = job.training_job_name
        stream = f"{name}/{HOST}-{int(time.time())}"

        def started(j: TrainingJob) -> None:
            j.headwater.log_stream = stream

        await self.training.transition(name, secondary=SecondaryStatus.TRAINING,
                                       message="Training image download completed. Training in progress.",
                                       edit=started)
        spec = RunSpec(name=f"{name}-{HOST}", image=image, command=["train"], ml_root=root,
                       env=training_env(job, self.runner.base_dir(RunSpec(name, image, [], root)), HOST,
                                        num_cpus=self.cpu_share()))
        async with LogShipper(self.logs, TRAINING_LOG_GROUP, stream, root.parent / f"{HOST}.log") as shipper:
            try:
                container = await self.runner.start(spec)
            except Exception as err:  # noqa: BLE001 - reported as the job's reason
                return await self._fail(name, f"InternalServerError: could not start the container: {err}")
            shipper.add(f"Headwater: started {image.module} ({container.ident}) for {name}")
            collector = MetricsCollector(definitions_for(image.name, job.algorithm_specification.metric_definitions))
            pending: list[Observation] = []
            collector.listeners.append(pending.append)
            for listener in self.metric_listeners:
                collector.listeners.append(lambda obs, f=listener: f(name, obs))

            async def pump() -> None:
                async for line in container.lines():
                    shipper.add(line)
                    collector.feed(escape_control(line), self.training.clock())
                    if self.on_line:
                        self.on_line(name, line)

            metrics_done = asyncio.Event()

            async def publish_metrics() -> None:
                # Stopped by an event, never cancelled: a cancelled put would lose its batch.
                while not metrics_done.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(metrics_done.wait(), timeout=1.0)
                    await self._put_metrics(name, pending)

            reader = asyncio.create_task(pump())
            publisher = asyncio.create_task(publish_metrics())
            outcome, code = await self._supervise(job, container)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader, timeout=5)
            metrics_done.set()
            await publisher
            tail = list(shipper.tail)
        return await self._conclude(job, root, outcome, code, tail, collector)

    async def _put_metrics(self, name: str, pending: list[Observation]) -> None:
        """Publish the observations gathered so far to CloudWatch (never fails the job)."""
        batch, pending[:] = list(pending), []
        if not batch or self.cloudwatch is None:
            return
        try:
            await self.cloudwatch.put(TRAINING_LOG_GROUP, [
                (o.name, o.value, o.timestamp, {"Host": f"{name}/{HOST}"}) for o in batch])
        except Exception:  # noqa: BLE001 - metrics are best effort
            log.warning("could not put %d metric points of %s", len(batch), name, exc_info=True)

    async def _supervise(self, job: TrainingJob, container: RunningContainer) -> tuple[Outcome, int]:
        """Wait for the container, enforcing MaxRuntimeInSeconds and stop requests."""
        deadline = time.monotonic() + (job.stopping_condition.max_runtime_in_seconds or 86400)
        waiter = asyncio.create_task(container.wait())
        outcome = Outcome.EXITED
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=1.0)
            if waiter.done():
                break
            if time.monotonic() >= deadline:
                outcome = Outcome.MAX_RUNTIME
            else:
                current = await self.training.describe_training_job(job.training_job_name)
                if current.headwater.stop_requested:
                    outcome = Outcome.STOPPED
            if outcome is not Outcome.EXITED:
                await container.terminate()
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), timeout=self.settings.stop_grace_seconds)
                except asyncio.TimeoutError:
                    await container.kill()
                break
        return outcome, await waiter

    async def _conclude(self, job: TrainingJob, root: Path, outcome: Outcome, code: int,
                        tail: list[str], collector: MetricsCollector) -> TrainingJob:
        name = job.training_job_name
        final = collector.final()
        if final:
            await self.training.transition(name, edit=lambda j: setattr(j, "final_metric_data_list", final))
        if outcome is Outcome.EXITED and code != 0:
            return await self._fail(name, failure_reason(root, code, tail))
        await self.training.transition(name, secondary=SecondaryStatus.UPLOADING,
                                       message="Uploading generated training model")
        artifacts = await self._upload(job, root)

        def done(j: TrainingJob) -> None:
            j.model_artifacts = ModelArtifacts(s3_model_artifacts=artifacts)

        if outcome is Outcome.EXITED:
            return await self.training.transition(name, TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED,
                                                  "Training job completed", edit=done)
        if outcome is Outcome.MAX_RUNTIME:
            return await self.training.transition(
                name, TrainingJobStatus.STOPPED, SecondaryStatus.MAX_RUNTIME_EXCEEDED,
                f"Training job stopped: it exceeded MaxRuntimeInSeconds "
                f"({job.stopping_condition.max_runtime_in_seconds})", edit=done)
        return await self._finish_stopped(name, SecondaryStatus.STOPPED, "Training job stopped", edit=done)

    async def _upload(self, job: TrainingJob, root: Path) -> str:
        """Pack ``model/`` (and ``output/data`` when not empty) and upload them."""
        bucket, prefix = parse_s3_uri(job.output_data_config.s3_output_path)
        base = f"{prefix.rstrip('/')}/{job.training_job_name}/output".lstrip("/")
        model_tar = root.parent / "model.tar.gz"
        await asyncio.to_thread(pack_dir, root / "model", model_tar)
        await self.s3.upload_file(model_tar, bucket, f"{base}/model.tar.gz", "application/x-gzip")
        data_dir = root / "output/data"
        if any(data_dir.iterdir()):
            out_tar = root.parent / "output.tar.gz"
            await asyncio.to_thread(pack_dir, data_dir, out_tar)
            await self.s3.upload_file(out_tar, bucket, f"{base}/output.tar.gz", "application/x-gzip")
        return f"s3://{bucket}/{base}/model.tar.gz"

    async def _fail(self, name: str, reason: str) -> TrainingJob:
        def edit(j: TrainingJob) -> None:
            j.failure_reason = reason[:FAILURE_REASON_MAX]

        return await self.training.transition(name, TrainingJobStatus.FAILED, SecondaryStatus.FAILED,
                                              "Training job failed", edit=edit)

    async def _finish_stopped(self, name: str, secondary: SecondaryStatus, message: str,
                              edit: Callable[[TrainingJob], None] | None = None) -> TrainingJob:
        return await self.training.transition(name, TrainingJobStatus.STOPPED, secondary, message, edit=edit)

    # --- the JobExecutor protocol (services.jobs) -------------------------------

    kind = "training"

    async def claim(self, name: str, worker_id: str, now: datetime, stale_after: timedelta) -> bool:
        """Take the job in one conditional write (see :class:`services.jobs.JobExecutor`)."""
        job = await self.training.store.get(name)
        if job is None or job.training_job_status.is_terminal:
            return False

        def take(j: TrainingJob) -> None:
            hb = j.headwater.heartbeat_at
            if j.headwater.worker not in (None, worker_id) and hb is not None and now - hb < stale_after:
                raise HeldElsewhere(j.headwater.worker)
            j.headwater.worker = worker_id
            j.headwater.attempts += 1
            j.headwater.heartbeat_at = now

        if job.headwater.attempts > 0:
            await self.training.transition(
                name, secondary=SecondaryStatus.RESTARTING, edit=take,
                message=f"Restarting the job after its worker was lost (attempt {job.headwater.attempts + 1})")
        else:
            await self.training.transition(name, edit=take)
        return True

    async def beat(self, name: str, now: datetime) -> None:
        """Record the claiming worker's heartbeat on the job."""
        await self.training.transition(name, edit=lambda j: setattr(j.headwater, "heartbeat_at", now))

    async def record_error(self, name: str, error: str) -> None:
        """Keep the last platform error, for the reason if the job is given up."""
        await self.training.transition(name, edit=lambda j: setattr(j.headwater, "last_error", error))

    async def fail_lost(self, name: str, reason: str) -> None:
        """Fail a job whose task cannot be run any more (its workers kept dying)."""
        job = await self.training.store.get(name)
        if job is None or job.training_job_status.is_terminal:
            return
        if job.headwater.last_error:
            reason += f" (last error: {job.headwater.last_error})"
        await self._fail(name, reason)


def failure_reason(root: Path, code: int, tail: list[str]) -> str:
    """``output/failure`` when the container wrote one; else the exit code and the log's tail."""
    failure = root / "output/failure"
    if failure.is_file():
        text = failure.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return text
    how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    last = " | ".join(line.strip() for line in tail[-5:] if line.strip())
    return f"AlgorithmError: the training container failed ({how}). Last log lines: {last}"


def pack_dir(src: Path, dest: Path) -> None:
    """Write ``src``'s contents (not ``src`` itself) to the gzipped tar ``dest``."""
    with tarfile.open(dest, "w:gz") as tar:
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(src)), recursive=False)
