"""The process runner's children: they do not outlive the node that started them, and they see the
container contract's environment, never the node's own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.aws.session import job_aws_env
from services.core.exceptions import PlatformError
from services.core.settings import Settings
from services.runners import process
from services.runners.base import RunSpec, at_base
from services.runners.images import ContainerImage
from services.runners.namespace import namespaces_available, network_namespaces_available
from services.runners.process import ProcessRunner
from tests.support import LoopbackListener, wait_for, write_wheel

PARENT = r"""
import asyncio
from pathlib import Path
from services.runners.images import ContainerImage
from services.aws.session import job_aws_env
from services.core.settings import Settings
from services.runners.base import RunSpec, at_base
from services.runners.process import ProcessRunner

async def main():
    # A stand-in container: a module that would run for a minute.
    spec = RunSpec(name="t", image=ContainerImage("x", "timeit", "x"), command=["-n", "1", "import time; time.sleep(60)"],
                   ml_root=Path({root!r}), env={{}})
    container = await ProcessRunner().start(spec)
    print(container.proc.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    """Running (a zombie has died; only its parent has not reaped it yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_a_container_dies_with_a_node_killed_hard(tmp_path: Path) -> None:
    node = subprocess.Popen([sys.executable, "-c", PARENT.format(root=str(tmp_path))], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        child = int(node.stdout.readline())  # type: ignore[union-attr]
        assert _alive(child)
        os.kill(node.pid, signal.SIGKILL)  # the node we started, by its pid
        node.wait(10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if node.poll() is None:
            node.kill()


# A stand-in user script: prints the environment it was given, as one JSON line.
PRINT_ENVIRONMENT = "import json, os; print(json.dumps(dict(os.environ)))"


async def environment_of(runner: ProcessRunner, spec: RunSpec) -> dict[str, str]:
    """The environment the child started from ``spec`` sees."""
    container = await runner.start(spec)
    lines = [line async for line in container.lines()]
    assert await container.wait() == 0, lines
    return json.loads(lines[-1])


def env_spec(root: Path, env: dict[str, str]) -> RunSpec:
    return RunSpec(name="env", image=ContainerImage("x", "x", "x"), command=[], ml_root=root, env=env,
                   entrypoint=[sys.executable, "-c", PRINT_ENVIRONMENT])


async def test_a_job_sees_its_contract_and_not_the_nodes_secrets(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The node's own environment: a secret of its operator's, the node's AWS keys, its settings.
    monkeypatch.setenv("HEADWATER_SECRET_TEST", "1")
    monkeypatch.setenv("HEADWATER_ACCESS_TOKEN", "node-token")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANODEKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "node-secret-key")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "node-session-token")
    monkeypatch.setenv("LANG", "C.UTF-8")
    contract = {"SM_MODEL_DIR": f"{tmp_path}/model", "SM_CHANNEL_TRAIN": f"{tmp_path}/input/data/train",
                "SM_HP_ETA": "0.3", "TRAINING_JOB_NAME": "j", "MY_VAR": "from the job's Environment"}

    seen = await environment_of(ProcessRunner(), env_spec(tmp_path, contract))

    leaked = sorted(k for k in seen if k.startswith("HEADWATER_") or seen[k] in {
        "AKIANODEKEY", "node-secret-key", "node-session-token"})
    assert leaked == []
    assert {k: seen.get(k) for k in contract} == contract
    assert seen["SAGEMAKER_BASE_DIR"] == str(tmp_path)
    assert seen["LANG"] == "C.UTF-8"  # harmless process variables still pass
    assert os.path.dirname(sys.executable) in seen["PATH"].split(os.pathsep)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:4566", "aws"], ids=["emulator", "aws"])
async def test_a_job_gets_its_own_aws_variables_not_the_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              endpoint: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANODEKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "node-secret-key")
    monkeypatch.setenv("AWS_PROFILE", "node-profile")
    settings = Settings(aws_endpoint=endpoint, region="eu-west-1")

    seen = await environment_of(ProcessRunner(env=job_aws_env(settings)), env_spec(tmp_path, {}))

    aws = {k: v for k, v in seen.items() if k.startswith("AWS_") and k != "AWS_CA_BUNDLE"}
    region = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    if endpoint == "aws":  # the node's keys are not the job's: a job gets none
        assert aws == region
    else:  # the emulator's endpoint and the credentials any emulator accepts
        assert aws == {**region, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}


async def test_a_jobs_sagemaker_calls_reach_the_node_that_runs_it(tmp_path: Path) -> None:
    settings = Settings(aws_endpoint="http://127.0.0.1:4566")
    runner = ProcessRunner(env=job_aws_env(settings, control_plane="http://127.0.0.1:4570"))
    seen = await environment_of(runner, env_spec(tmp_path, {}))
    assert seen["AWS_ENDPOINT_URL_SAGEMAKER"] == seen["AWS_ENDPOINT_URL_SAGEMAKER_METRICS"] == "http://127.0.0.1:4570"


async def test_a_jobs_environment_wins_over_the_runners(tmp_path: Path) -> None:
    runner = ProcessRunner(env={"AWS_REGION": "us-east-1"})
    seen = await environment_of(runner, env_spec(tmp_path, {"AWS_REGION": "ap-south-1"}))
    assert seen["AWS_REGION"] == "ap-south-1"


# A container's own program installs a package, then reports where its interpreter lives and what it imports.
INSTALL_THEN_REPORT = r"""
set -e
pip3 install --no-index --quiet --disable-pip-version-check ./{wheel}
python3 -c 'import json, sys, numpy, {package}; print(json.dumps([sys.prefix, {package}.VERSION]))'
"""


async def test_a_containers_own_program_installs_into_its_job_environment(tmp_path: Path) -> None:
    # Under the process runner the image's interpreter is the node's: a job's `pip install` must not change it.
    wheel = write_wheel(tmp_path, "hw_runner_probe")
    spec = RunSpec(name="pip", image=ContainerImage("x", "x", "x"), command=[], ml_root=tmp_path,
                   entrypoint=["/bin/sh", "-c", INSTALL_THEN_REPORT.format(wheel=wheel.name,
                                                                           package="hw_runner_probe")])
    container = await ProcessRunner().start(spec)
    lines = [line async for line in container.lines()]
    assert await container.wait() == 0, lines
    prefix, version = json.loads(lines[-1])
    # python3 is the image's interpreter with the image's libraries (numpy), in the job's own environment.
    assert Path(prefix) == tmp_path / ".python" and version == "1.0"
    node = subprocess.run([sys.executable, "-c", "import hw_runner_probe"], capture_output=True, check=False)
    assert node.returncode != 0, "the job's package was installed into the node's interpreter"


RESOLVE = "import json, socket; print(json.dumps([socket.gethostbyname(h) for h in ('algo-1', 'algo-2', 'localhost')]))"


@pytest.mark.skipif(not namespaces_available(), reason="this kernel refuses unprivileged user namespaces, in which "
                                                       "the process runner shows a job its own /etc/hosts")
async def test_a_job_reaches_its_hosts_by_name(tmp_path: Path) -> None:
    machine = Path("/etc/hosts").read_text()
    spec = RunSpec(name="names", image=ContainerImage("x", "x", "x"), command=[], ml_root=tmp_path,
                   literal_paths=True, hosts={"algo-1": "127.0.0.1", "algo-2": "127.0.0.2"},
                   entrypoint=[sys.executable, "-c", RESOLVE])
    container = await ProcessRunner().start(spec)
    lines = [line async for line in container.lines()]
    assert await container.wait() == 0, lines
    assert json.loads(lines[-1]) == ["127.0.0.1", "127.0.0.2", "127.0.0.1"]  # and the machine's names still
    assert Path("/etc/hosts").read_text() == machine  # only the job's namespace sees them


# Try a server on the machine's loopback, then a socket of the job's own; report both and the AWS variables.
NET_PROBE = r"""
import json, os, socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).sendall(b"hello from the job\n")
    server = "connected"
except OSError as err:
    server = f"failed: {err}"
own = socket.socket(); own.bind(("127.0.0.1", 0)); own.listen(1)
socket.create_connection(own.getsockname(), timeout=5).close()
print(json.dumps([server, sorted(k for k in os.environ if k.startswith("AWS_") and k != "AWS_CA_BUNDLE")]))
"""


async def _net_probe(runner: ProcessRunner, root: Path, port: int, isolated: bool) -> list:
    spec = RunSpec(name="net", image=ContainerImage("x", "x", "x"), command=[], ml_root=root,
                   network_isolated=isolated, entrypoint=[sys.executable, "-c", NET_PROBE, str(port)])
    container = await runner.start(spec)
    lines = [line async for line in container.lines()]
    assert await container.wait() == 0, lines
    return json.loads(lines[-1])


@pytest.mark.skipif(not network_namespaces_available(), reason="this kernel refuses unprivileged network "
                                                               "namespaces, which isolate a job under the process "
                                                               "runner (the job fails then: see the next test)")
async def test_an_isolated_job_has_its_own_loopback_only_and_no_credentials(tmp_path: Path) -> None:
    runner = ProcessRunner(env=job_aws_env(Settings(aws_endpoint="http://127.0.0.1:4566", region="eu-west-1")))
    assert runner.isolation_unavailable() is None
    with LoopbackListener() as listener:
        (tmp_path / "a").mkdir()
        server, aws = await _net_probe(runner, tmp_path / "a", listener.port, isolated=True)
        assert server.startswith("failed:") and listener.lines == []
        assert aws == ["AWS_DEFAULT_REGION", "AWS_REGION"]  # no endpoint to reach, no credentials to use
        (tmp_path / "b").mkdir()
        server, aws = await _net_probe(runner, tmp_path / "b", listener.port, isolated=False)
        assert server == "connected" and "AWS_ACCESS_KEY_ID" in aws
        wait_for(lambda: listener.lines == ["hello from the job"], 10, what="the job's line at the server")


async def test_without_network_namespaces_the_runner_says_why_and_runs_no_isolated_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "network_namespaces_available", lambda: False)
    runner = ProcessRunner()
    assert "network namespace" in (runner.isolation_unavailable() or "")
    with pytest.raises(PlatformError, match="network namespace"):
        await _net_probe(runner, tmp_path, 1, isolated=True)


def test_at_base_rewrites_only_opt_ml_paths() -> None:
    """Without a private /opt/ml, a job's entrypoint or argument naming it reaches the job directory."""
    args = ["python3", "/opt/ml/code/train.py", "--out", "/opt/ml", "/opt/mlx/y", "x=/opt/ml/model"]
    assert at_base(args, "/jobs/j/algo-1") == [
        "python3", "/jobs/j/algo-1/code/train.py", "--out", "/jobs/j/algo-1", "/opt/mlx/y", "x=/opt/ml/model"]
    assert at_base(args, "/opt/ml") == args


async def test_a_container_ends_when_its_program_exits_and_so_does_what_it_left_running(tmp_path: Path) -> None:
    # As a container's end ends every process in it: a daemon the program started (MPI's SSH server, which keeps
    # the program's output open) neither outlives it nor keeps the platform waiting for the host to end.
    spec = RunSpec(name="daemon", image=ContainerImage("x", "x", "x"), command=[], ml_root=tmp_path,
                   entrypoint=["/bin/sh", "-c", "sleep 600 & echo $!; exit 3"])
    container = await ProcessRunner().start(spec)
    assert await asyncio.wait_for(container.wait(), timeout=30) == 3
    lines = [line async for line in container.lines()]
    daemon = int(lines[0])
    wait_for(lambda: not _alive(daemon), timeout=10, what=f"the program's daemon (pid {daemon}) to end")
