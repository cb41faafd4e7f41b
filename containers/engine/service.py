"""Starting and stopping podman's Docker-compatible API service, by its pid.

``setup.sh`` installs the engine and builds the base image once; this module
runs ``podman system service --time=0 unix://<socket>`` for one test session
(or one ``headwater up --runner docker``), waits until the Docker API answers
on the socket, and ends that process, and only it, on stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[2]
SETUP = Path(__file__).resolve().parent / "setup.sh"
BASE_IMAGE = "localhost/headwater-base:bookworm"


class EngineError(RuntimeError):
    """The engine could not be set up or started; the message says which step failed."""


def engine_dir() -> Path:
    """Where setup.sh keeps the engine's config (``ENGINE_DIR``, default ``<repo>/.engine``)."""
    return Path(os.environ.get("ENGINE_DIR") or REPO / ".engine")


def engine_env() -> dict[str, str]:
    """The environment podman commands run with: the config setup.sh wrote."""
    conf = engine_dir() / "containers.conf"
    if not conf.is_file():
        raise EngineError(f"{conf} is missing: run containers/engine/setup.sh (make test does)")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def ensure_setup() -> None:
    """Run setup.sh (idempotent: a quick check once done); raise with its output if it fails."""
    proc = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise EngineError(f"engine set-up failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


class EngineService:
    """``podman system service`` on a private socket; a context manager."""

    def __init__(self, socket: Path, log_file: Path | None = None) -> None:
        self.socket = socket
        self.log_file = log_file or socket.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The Docker API endpoint (``unix://...``) for ``docker.DockerClient``."""
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60) -> str:
        """Start the service and wait until the Docker API answers; return its base URL."""
        import docker  # the SDK the docker runner uses

        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                ["podman", "system", "service", "--time=0", self.base_url], env=engine_env(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EngineError(f"podman system service exited with {self.proc.returncode}; "
                                  f"see {self.log_file}: {self.log_file.read_text()[-2000:]}")
            if self.socket.exists():
                try:
                    client = docker.DockerClient(base_url=self.base_url, timeout=10)
                    client.ping()
                    client.close()
                    return self.base_url
                except Exception as err:  # noqa: BLE001 - not answering yet
                    last = err
            time.sleep(0.2)
        self.stop()
        raise EngineError(f"the Docker API on {self.socket} did not answer within {timeout} s: {last}")

    def stop(self, grace: float = 10) -> None:
        """End the service process this object started (SIGTERM, then SIGKILL)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: conmon children go with it
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(grace)
        self.socket.unlink(missing_ok=True)

    def __enter__(self) -> EngineService:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
