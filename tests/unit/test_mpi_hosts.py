"""MPI training jobs (the SDK v3's MPI driver): each host a machine of its own with an SSH server on port 22.

The executor tells an MPI job by its ``sm_drivers`` channel, fails it naming what the runner lacks, and
otherwise starts each host with its own loopback address, host name, ``/tmp``, ``/etc/environment`` and SSH
configuration. The process runner makes such a host (as root, in namespaces); the end-to-end run is
``tests/sdk_v3/test_mpi.py``.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.aws.s3 import S3Object
from services.core.settings import Settings
from services.core.store import DocumentStore, MemoryBackend
from services.runners.base import Runner, RunningContainer, RunSpec
from services.runners.docker import DockerRunner
from services.runners.host_view import HostView
from services.runners.images import ContainerImage, resolve_image
from services.runners.namespace import namespaces_available
from services.runners.process import ProcessRunner
from services.training.env import training_env
from services.training.executor import TrainingJobExecutor
from services.training.hosts import assign_addresses
from services.training.models import CreateTrainingJobRequest, TrainingJob, TrainingJobStatus
from services.training.service import TrainingService
from services.training.ssh_hosts import runs_mpi_driver, write_ssh_hosts
from tests.unit.test_final_sync import QuietLogs
from tests.unit.test_training_env import job as env_job
from tests.unit.test_training_service import Clock, Recorder

# What v3 uploads as the sm_drivers channel, in short: the train script names the driver it runs.
MPI_TRAIN_SH = ("echo 'Running MPI Driver'\n"
                "$SM_PYTHON_CMD /opt/ml/input/data/sm_drivers/distributed_drivers/mpi_driver.py\n")
TORCHRUN_TRAIN_SH = "$SM_PYTHON_CMD /opt/ml/input/data/sm_drivers/distributed_drivers/torchrun_driver.py\n"
ROOT_AND_NAMESPACES = os.geteuid() == 0 and namespaces_available()


class ChannelS3:
    """An S3 holding ``objects`` (bucket, key) -> bytes, taking every upload."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects
        self.uploaded: list[tuple[str, str]] = []

    async def list_objects(self, bucket: str, prefix: str) -> AsyncIterator[S3Object]:
        for (b, key), body in sorted(self.objects.items()):
            if b == bucket and key.startswith(prefix):
                yield S3Object(b, key, len(body), "etag")

    async def download_file(self, bucket: str, key: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.objects[(bucket, key)])

    async def upload_file(self, path: Path, bucket: str, key: str, content_type: str | None = None) -> None:
        self.uploaded.append((bucket, key))


class Exits(RunningContainer):
    async def lines(self) -> AsyncIterator[str]:
        yield "done"

    @property
    def ident(self) -> str:
        return "stand-in"

    async def wait(self) -> int:
        return 0

    async def terminate(self) -> None:
        return None

    async def kill(self) -> None:
        return None


class RecordingRunner(Runner):
    """Starts stand-ins that exit 0, recording each spec; lacks ``missing`` for MPI."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__()
        self.missing = missing
        self.specs: list[RunSpec] = []

    def base_dir(self, spec: RunSpec) -> str:
        return "/opt/ml"

    async def missing_for_mpi(self, image: ContainerImage) -> list[str]:
        return self.missing

    async def start(self, spec: RunSpec) -> RunningContainer:
        self.specs.append(spec)
        return Exits()


async def _run_job(tmp_path: Path, train_sh: str, runner: RecordingRunner) -> TrainingJob:
    rec = Recorder()
    service = TrainingService(DocumentStore(MemoryBackend(), "training-jobs", TrainingJob, "Training job"), rec,
                              rec, region="us-east-1", account_id="123456789012", clock=Clock())  # type: ignore[arg-type]
    await service.create_training_job(CreateTrainingJobRequest.model_validate({
        "TrainingJobName": "mpi", "RoleArn": "arn:aws:iam::123456789012:role/r",
        "AlgorithmSpecification": {
            "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310",
            "TrainingInputMode": "File", "ContainerEntrypoint": ["/bin/bash"],
            "ContainerArguments": ["-c", "/opt/ml/input/data/sm_drivers/sm_train.sh"]},
        "InputDataConfig": [{"ChannelName": "sm_drivers", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://in/drivers/"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://out/o"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}}))
    s3 = ChannelS3({("in", "drivers/sm_train.sh"): train_sh.encode()})
    executor = TrainingJobExecutor(Settings(state_dir=tmp_path, stop_grace_seconds=1), service, s3,  # type: ignore[arg-type]
                                   QuietLogs(), runner)  # type: ignore[arg-type]
    return await executor.execute("mpi")


async def test_an_mpi_job_fails_naming_what_the_node_lacks(tmp_path: Path) -> None:
    runner = RecordingRunner(["mpirun (Debian's openmpi-bin)"])
    job = await _run_job(tmp_path, MPI_TRAIN_SH, runner)
    assert job.training_job_status is TrainingJobStatus.FAILED
    assert job.failure_reason == ("ClientError: MPI training (distributed=MPI) runs each host's SSH server and "
                                  "mpirun, which needs on this node: mpirun (Debian's openmpi-bin)")
    assert runner.specs == []  # no host was started


@pytest.mark.skipif(os.geteuid() != 0, reason="the hosts' own loopback addresses are chosen with port 22 free, "
                                             "which only root can try")
async def test_an_mpi_jobs_hosts_are_each_a_machine_of_their_own(tmp_path: Path) -> None:
    runner = RecordingRunner([])
    job = await _run_job(tmp_path, MPI_TRAIN_SH, runner)
    assert job.training_job_status is TrainingJobStatus.COMPLETED, job.failure_reason
    views = {spec.env["SM_CURRENT_HOST"]: spec for spec in runner.specs}
    assert sorted(views) == ["algo-1", "algo-2"]
    addresses = views["algo-1"].hosts
    assert len(set(addresses.values())) == 2 and "127.0.0.1" not in addresses.values()
    for host, spec in views.items():
        assert spec.hosts == addresses  # every host resolves every other by name
        assert spec.view is not None and spec.view.hostname == host and spec.view.root_capabilities
        assert spec.env["HOME"] == "/opt/ml/.host/home"
        assert spec.env["SM_NETWORK_INTERFACE_NAME"] == "lo"
        assert [name for name, _ in spec.view.etc] == ["ssh/sshd_config", "ssh/ssh_config", "environment"]


async def test_a_job_without_the_mpi_driver_keeps_the_shared_loopback_address(tmp_path: Path) -> None:
    runner = RecordingRunner(["not asked"])
    job = await _run_job(tmp_path, TORCHRUN_TRAIN_SH, runner)
    assert job.training_job_status is TrainingJobStatus.COMPLETED, job.failure_reason
    assert all(spec.view is None and set(spec.hosts.values()) == {"127.0.0.1"} for spec in runner.specs)


def test_the_mpi_driver_is_told_by_the_drivers_channel(tmp_path: Path) -> None:
    script = tmp_path / "input/data/sm_drivers/sm_train.sh"
    assert not runs_mpi_driver(tmp_path)  # no drivers channel at all
    script.parent.mkdir(parents=True)
    script.write_text(TORCHRUN_TRAIN_SH)
    assert not runs_mpi_driver(tmp_path)
    script.write_text(MPI_TRAIN_SH)
    assert runs_mpi_driver(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="port 22 is tried on each address, which only root can bind")
def test_own_addresses_are_distinct_loopback_addresses_with_the_port_free() -> None:
    addresses = assign_addresses(["algo-1", "algo-2", "algo-3"], own_port=22)
    hosts = {a.rpartition(":")[0] for a in addresses.values()}
    assert len(hosts) == 3 and all(h.startswith("127.") and h != "127.0.0.1" for h in hosts)
    for address in addresses.values():
        host, _, port = address.rpartition(":")
        with socket.socket() as s:  # both the host's port and port 22 are free on its address
            s.bind((host, int(port)))
        with socket.socket() as s:
            s.bind((host, 22))


async def test_each_host_gets_the_jobs_keys_and_its_own_ssh_configuration(tmp_path: Path) -> None:
    roots = {h: tmp_path / "job" / h for h in ("algo-1", "algo-2")}
    for root in roots.values():
        root.mkdir(parents=True)
    addresses = {"algo-1": "127.1.2.3", "algo-2": "127.4.5.6"}
    hosts = await write_ssh_hosts(roots, addresses)
    for host, root in roots.items():
        own = root / ".host"
        sshd = (own / "etc/sshd_config").read_text()
        assert f"ListenAddress {addresses[host]}\nPort 22\n" in sshd
        assert "HostKey /opt/ml/.host/etc/ssh_host_ed25519_key" in sshd
        client = (own / "etc/ssh_config").read_text()
        assert client.startswith("# The job's hosts") and "Host algo-1 algo-2\n" in client
        assert "StrictHostKeyChecking no" in client and "IdentityFile /opt/ml/.host/home/.ssh/id_ed25519" in client
        assert (own / "etc/environment").read_text() == ""
        for key in ("etc/ssh_host_ed25519_key", "home/.ssh/id_ed25519"):
            assert stat.S_IMODE((own / key).stat().st_mode) == 0o600  # ssh and sshd refuse readable keys
        # The one key pair of the job: each host's client key is authorized on every host.
        assert (own / "etc/authorized_keys").read_text().startswith("ssh-ed25519 ")
        first = roots["algo-1"] / ".host"
        assert (own / "etc/authorized_keys").read_text() == (first / "etc/authorized_keys").read_text()
        assert (own / "home/.ssh/id_ed25519").read_bytes() == (first / "home/.ssh/id_ed25519").read_bytes()
        assert hosts[host].env == {"HOME": "/opt/ml/.host/home"} and hosts[host].view.tmp == own / "tmp"
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["algo-1", "algo-2"]  # no key left beside


def test_the_hosts_talk_over_loopback() -> None:
    env = training_env(env_job(), "/opt/ml", "algo-1", ["algo-1", "algo-2"])
    assert env["SM_NETWORK_INTERFACE_NAME"] == "lo"
    assert json.loads(env["SM_TRAINING_ENV"])["network_interface_name"] == "lo"


async def test_the_docker_runner_says_mpi_needs_the_process_runner() -> None:
    image = resolve_image("headwater/pytorch")
    assert image is not None
    [reason] = await DockerRunner().missing_for_mpi(image)
    assert reason.startswith("the process runner")


# A program that reports what it sees of its machine, then leaves a file at the top of /tmp.
REPORT = r"""
import json, os, socket, sys
print(json.dumps({"hostname": socket.gethostname(), "environment": open("/etc/environment").read(),
                  "visible": os.path.exists(sys.argv[1]), "home": os.environ["HOME"]}), flush=True)
open("/etc/environment", "a").write("FROM_THE_JOB=1\n")
open("/tmp/hw-host-view-probe", "w").write("x")
"""


@pytest.mark.skipif(not ROOT_AND_NAMESPACES, reason="a host of its own needs a node running as root, with "
                                                    "private namespaces (unshare)")
async def test_the_process_runner_shows_a_host_its_own_machine(tmp_path: Path) -> None:
    machine_environment = Path("/etc/environment").read_text()
    own = tmp_path / "own"
    (own / "tmp").mkdir(parents=True)
    (own / "environment").write_text("SEEN=1\n")
    marker = tmp_path / "machine-file"  # under the machine's /tmp (pytest's), which the host must still see
    marker.write_text("x")
    spec = RunSpec(name="view", image=ContainerImage("x", "x", "x"), command=[], ml_root=tmp_path / "root",
                   literal_paths=True, env={"HOME": "/opt/ml"},
                   view=HostView(hostname="algo-7", etc=(("environment", own / "environment"),), tmp=own / "tmp",
                                 root_capabilities=True),
                   entrypoint=[sys.executable, "-c", REPORT, str(marker)])
    spec.ml_root.mkdir()
    container = await ProcessRunner().start(spec)
    lines = [line async for line in container.lines()]
    assert await container.wait() == 0, lines
    seen: dict[str, Any] = json.loads(lines[-1])
    # Its own host name and /etc/environment; the machine's files under /tmp still there (pytest's are).
    assert seen == {"hostname": "algo-7", "environment": "SEEN=1\n", "visible": True, "home": "/opt/ml"}
    # What the host wrote is its own: the machine's /etc/environment, /tmp and host name are as they were.
    assert Path("/etc/environment").read_text() == machine_environment
    assert (own / "environment").read_text() == "SEEN=1\nFROM_THE_JOB=1\n"
    assert (own / "tmp/hw-host-view-probe").exists() and not Path("/tmp/hw-host-view-probe").exists()
    assert socket.gethostname() != "algo-7"
