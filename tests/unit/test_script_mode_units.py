"""Script-mode and checkpoint helpers: argument building, safe unpacking, path mapping, billing."""

from __future__ import annotations

import io
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from containers.common.script_mode import command_for, user_args
from services.core.exceptions import JobFailed
from services.inputs.source_code import extract, fetch_source, is_script_mode, submit_directory
from services.training.checkpoints import local_dir
from services.training.models import CheckpointConfig, TrainingJob
from services.training.spot import billable_edit, lost_attempt_seconds


def test_user_args_decode_json_and_skip_sagemaker_keys() -> None:
    hps = {"sagemaker_program": '"train.py"', "epochs": "3", "lr": '"0.1"', "layers": "[1, 2]", "name": "plain"}
    assert user_args(hps) == ["--epochs", "3", "--layers", "[1, 2]", "--lr", "0.1", "--name", "plain"]


def test_command_for_picks_the_interpreter(tmp_path: Path) -> None:
    assert command_for(tmp_path / "t.py", ["--a", "1"])[1:] == [str(tmp_path / "t.py"), "--a", "1"]
    assert command_for(tmp_path / "t.sh", [])[0] == "/bin/sh"


def test_submit_directory_is_decoded() -> None:
    hps = {"sagemaker_program": '"t.py"', "sagemaker_submit_directory": '"s3://b/k/sourcedir.tar.gz"'}
    assert submit_directory(hps) == "s3://b/k/sourcedir.tar.gz" and is_script_mode(hps)
    assert submit_directory({}) is None and not is_script_mode(None)


def _tar(tmp: Path, *members: tarfile.TarInfo) -> Path:
    path = tmp / "src.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize("member", [
    _member("../up.py"), _member("/abs.py"), _member("ok/../../up.py"),
    _member("link", tarfile.SYMTYPE, "/etc/passwd"), _member("sub/link", tarfile.SYMTYPE, "../../x"),
    _member("dev", tarfile.CHRTYPE),
])
def test_escaping_members_are_refused(tmp_path: Path, member: tarfile.TarInfo) -> None:
    dest = tmp_path / "code"
    with pytest.raises(JobFailed, match="would be extracted outside the code directory"):
        extract(_tar(tmp_path, _member("train.py"), member), dest)
    assert not dest.exists() or not any(dest.iterdir())  # nothing was written


def test_a_clean_archive_is_unpacked(tmp_path: Path) -> None:
    dest = tmp_path / "code"
    extract(_tar(tmp_path, _member("train.py"), _member("pkg/util.py"), _member("pkg/l", tarfile.SYMTYPE, "util.py")),
            dest)
    assert (dest / "train.py").is_file() and (dest / "pkg/util.py").is_file()


def _host_with_code_channel(tmp: Path, archive: Path) -> Path:
    """A host tree whose ``code`` channel holds ``archive`` as ``sourcedir.tar.gz``; returns the tree."""
    root = tmp / "algo-1"
    channel = root / "input/data/code"
    channel.mkdir(parents=True)
    archive.rename(channel / "sourcedir.tar.gz")
    return root


class _NoS3:
    async def download_file(self, *args: object) -> None:
        raise AssertionError("a channel's archive is read from the host tree, never downloaded")


async def test_a_submit_directory_in_a_channel_is_unpacked_from_the_host_tree(tmp_path: Path) -> None:
    root = _host_with_code_channel(tmp_path, _tar(tmp_path, _member("train.py"), _member("pkg/util.py")))
    hps = {"sagemaker_submit_directory": '"/opt/ml/input/data/code/sourcedir.tar.gz"'}
    assert await fetch_source(_NoS3(), hps, root / "code")  # type: ignore[arg-type]
    assert (root / "code/train.py").is_file() and (root / "code/pkg/util.py").is_file()


@pytest.mark.parametrize(("submit", "message"), [
    ("/opt/ml/input/data/code/../../../../../etc/passwd", "must name a file inside one of the job's input channels"),
    ("/opt/ml/input/data/sourcedir.tar.gz", "must name a file inside one of the job's input channels"),
    ("/opt/ml/code/sourcedir.tar.gz", "must be an S3 URI of a sourcedir.tar.gz, or a file in an input channel"),
    ("/opt/ml/input/data/code/missing.tar.gz", "is not in the job's input channel 'code'"),
    ("/opt/ml/input/data/code/outside.tar.gz", "must name a file inside one of the job's input channels"),
])
async def test_a_submit_directory_never_escapes_its_channel(tmp_path: Path, submit: str, message: str) -> None:
    root = _host_with_code_channel(tmp_path, _tar(tmp_path, _member("train.py")))
    secret = tmp_path / "secret.tar.gz"
    secret.write_bytes((root / "input/data/code/sourcedir.tar.gz").read_bytes())
    (root / "input/data/code/outside.tar.gz").symlink_to(secret)  # a link in the channel pointing out of it
    with pytest.raises(JobFailed, match=message):
        await fetch_source(_NoS3(), {"sagemaker_submit_directory": submit}, root / "code")  # type: ignore[arg-type]
    assert not (root / "code").exists() or not any((root / "code").iterdir())


def test_checkpoint_local_path_maps_into_the_host_tree(tmp_path: Path) -> None:
    assert local_dir(tmp_path, CheckpointConfig(s3_uri="s3://b/c")) == tmp_path / "checkpoints"
    assert local_dir(tmp_path, CheckpointConfig(s3_uri="s3://b/c", local_path="/opt/ml/ck/x")) == tmp_path / "ck/x"
    assert local_dir(tmp_path, CheckpointConfig(s3_uri="s3://b/c", local_path="/elsewhere")) == tmp_path / "checkpoints"


def _job(spot: bool) -> TrainingJob:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return TrainingJob.model_validate({
        "TrainingJobName": "j", "TrainingJobArn": "arn", "RoleArn": "r", "CreationTime": now,
        "LastModifiedTime": now, "AlgorithmSpecification": {"TrainingImage": "headwater/xgboost"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/o"}, "EnableManagedSpotTraining": spot})


def test_billable_time_sums_the_attempts_of_a_spot_job() -> None:
    job = _job(spot=True)
    job.headwater.billable_seconds = 12.4
    billable_edit(job, 7.2)(job)
    assert job.billable_time_in_seconds == 20
    plain = _job(spot=False)
    billable_edit(plain, 7.2)(plain)
    assert plain.billable_time_in_seconds is None  # the service sets it to the training time


def test_a_lost_attempt_counts_until_its_last_heartbeat() -> None:
    job = _job(spot=True)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    job.headwater.attempt_started_at, job.headwater.heartbeat_at = start, start + timedelta(seconds=42)
    assert lost_attempt_seconds(job) == 42
    job.headwater.heartbeat_at = None
    assert lost_attempt_seconds(job) == 0


async def test_a_lost_worker_interrupts_a_spot_job() -> None:
    """A spot job whose worker died shows Interrupted then Restarting; its hosts' time so far is billable."""
    from services.core.store import DocumentStore, MemoryBackend
    from services.training.executor import TrainingJobExecutor
    from services.training.models import CreateTrainingJobRequest, SecondaryStatus
    from services.training.service import TrainingService
    from tests.unit.test_training_service import Clock, Recorder

    rec, clock = Recorder(), Clock()
    service = TrainingService(DocumentStore(MemoryBackend(), "training-jobs", TrainingJob, "Training job"), rec,
                              rec, region="us-east-1", account_id="123456789012", clock=clock)
    await service.create_training_job(CreateTrainingJobRequest.model_validate({
        "TrainingJobName": "spot", "RoleArn": "r", "EnableManagedSpotTraining": True,
        "AlgorithmSpecification": {"TrainingImage": "headwater/xgboost"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120}}))
    executor = TrainingJobExecutor.__new__(TrainingJobExecutor)
    executor.training = service
    t0 = clock.now
    assert await executor.claim("spot", "w1", t0, timedelta(seconds=2))

    def started(j: TrainingJob) -> None:
        j.headwater.attempt_started_at = t0
        j.headwater.heartbeat_at = t0 + timedelta(seconds=30)

    await service.transition("spot", edit=started)
    # w1 dies; w2 claims after its heartbeat went stale.
    assert await executor.claim("spot", "w2", t0 + timedelta(seconds=60), timedelta(seconds=2))
    job = await service.describe_training_job("spot")
    assert [t.status for t in job.secondary_status_transitions][-2:] == [SecondaryStatus.INTERRUPTED,
                                                                          SecondaryStatus.RESTARTING]
    assert job.headwater.interruptions == 1 and job.headwater.billable_seconds == 30
    assert job.headwater.worker == "w2" and job.headwater.attempts == 2
