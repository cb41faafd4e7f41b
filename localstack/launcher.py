"""Start and stop LocalStack in host mode (no Docker) from its own virtualenv.

Standard library only: the project's test suite imports this file from a
virtualenv that does not contain LocalStack (LocalStack pins a botocore that
conflicts with aiobotocore's), so LocalStack always runs as a child process
using the interpreter of ``localstack/.venv`` (created by ``localstack/setup.sh``).

Library use::

    from launcher import LocalStackProcess      # or load it by file path

    with LocalStackProcess(port=0) as ls:       # 0 = pick a free port
        print(ls.endpoint)                      # http://127.0.0.1:<port>

Command line (runs until Ctrl-C / SIGTERM)::

    python localstack/launcher.py --port 4566
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable, Mapping

__all__ = [
    "DEFAULT_SERVICES",
    "REQUIRED_SERVICES",
    "LocalStackError",
    "LocalStackProcess",
    "default_python",
    "main",
]

HERE = Path(__file__).resolve().parent

#: Services LocalStack loads (``SERVICES``); everything else stays disabled,
#: which keeps start-up short.
DEFAULT_SERVICES: tuple[str, ...] = ("s3", "sqs", "events", "logs", "sts", "iam", "cloudwatch")

#: Services that must report "available" or "running" before start() returns.
REQUIRED_SERVICES: tuple[str, ...] = ("s3", "sqs", "events")

#: Directory inside the LocalStack virtualenv holding the prebuilt service
#: catalog index (see ``setup.sh``).
SERVICE_CATALOG_DIRNAME = "service-catalog"

# Log lines that mean the gateway could not listen on its port.
_BIND_ERRORS = ("Address already in use", "address already in use", "CannotListenError")

_READY_STATES = frozenset({"available", "running"})

# Variables from the caller's environment that must not leak into LocalStack's
# interpreter (they would point it at the caller's virtualenv or packages).
_SCRUBBED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__")


class LocalStackError(RuntimeError):
    """LocalStack could not be started (missing venv, early exit, timeout)."""


def default_python() -> Path:
    """The interpreter of the LocalStack virtualenv created by ``setup.sh``."""
    if os.name == "nt":  # pragma: no cover - the tier targets Linux and macOS
        return HERE / ".venv" / "Scripts" / "python.exe"
    return HERE / ".venv" / "bin" / "python"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _owns_listening_port(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a socket listening on TCP ``port``.

    Linux only (reads /proc); None where that cannot be determined.
    """
    inodes: set[str] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for row in rows:
            fields = row.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A = LISTEN
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    fd_dir = f"/proc/{pid}/fd"
    if not readable or not os.path.isdir(fd_dir):
        return None
    if not inodes:
        return False
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return None
    for fd in fds:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """preexec hook (Linux): SIGTERM the child if the launching process dies.

    Keeps an abandoned LocalStack from outliving a test run that was killed
    with SIGKILL (where no cleanup code can run).
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


class LocalStackProcess:
    """LocalStack in host mode as a child process, in its own process group.

    ``start()`` (or entering the context manager) launches
    ``python -m localstack.runtime.main`` from the LocalStack virtualenv, bound
    to ``host:port`` (``port=0`` picks a free port), with a private temporary
    work directory for its state, volume and log file, and blocks until
    ``/_localstack/health`` reports every service in ``required_services`` as
    available/running. It raises :class:`LocalStackError` with the tail of the
    log if the process exits early or the timeout passes.

    ``stop()`` sends SIGTERM to the process group it started (identified by
    the child's pid, nothing else), waits, escalates to SIGKILL, and removes
    the work directory. It is idempotent and also runs at interpreter exit.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        services: Iterable[str] = DEFAULT_SERVICES,
        required_services: Iterable[str] = REQUIRED_SERVICES,
        startup_timeout: float = 90.0,
        stop_timeout: float = 15.0,
        python: str | os.PathLike[str] | None = None,
        workdir: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        keep_workdir: bool = False,
        eager: bool = True,
        gateway_server: str = "hypercorn",
        die_with_parent: bool = True,
    ) -> None:
        self.host = host
        self.requested_port = int(port)
        self.services = tuple(services)
        self.required_services = tuple(required_services)
        self.startup_timeout = float(startup_timeout)
        self.stop_timeout = float(stop_timeout)
        self.python = Path(python) if python is not None else default_python()
        self.extra_env = dict(env or {})
        self.keep_workdir = keep_workdir
        self.eager = eager
        # LocalStack's default gateway server, twisted, ignores the host part
        # of GATEWAY_LISTEN and listens on every interface (0.0.0.0); hypercorn
        # binds the loopback address as asked. twisted answers about twice as
        # fast (~5 ms vs ~10 ms per S3 PUT): pass gateway_server="twisted" for
        # latency measurements on a machine where that exposure is acceptable.
        self.gateway_server = gateway_server
        self.die_with_parent = die_with_parent

        self._given_workdir = Path(workdir) if workdir is not None else None
        self._workdir: Path | None = None
        self._owns_workdir = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file = None
        self._port: int | None = None
        self._log_offset = 0
        self._lock = threading.RLock()
        self.startup_seconds: float | None = None

    # -- public properties -------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise LocalStackError("LocalStack has not been started")
        return self._port

    @property
    def endpoint(self) -> str:
        """Base URL to pass as ``endpoint_url`` to AWS clients."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def workdir(self) -> Path | None:
        return self._workdir

    @property
    def log_path(self) -> Path | None:
        return self._workdir / "localstack.log" if self._workdir is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> "LocalStackProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> "LocalStackProcess":
        with self._lock:
            if self._proc is not None:
                raise LocalStackError("LocalStack is already started")
            if not self.python.exists():
                raise LocalStackError(
                    f"LocalStack virtualenv not found: {self.python} does not exist. "
                    "Create it with `make localstack-env` (runs `bash localstack/setup.sh`)."
                )
            # With a picked port another process may grab it between the pick
            # and LocalStack's bind: retry on a fresh port a couple of times.
            attempts = 3 if self.requested_port == 0 else 1
            for attempt in range(1, attempts + 1):
                try:
                    self._launch()
                    self._wait_ready()
                    break
                except _PortTaken as exc:
                    self._terminate()
                    if attempt == attempts:
                        self._cleanup_workdir()
                        raise LocalStackError(str(exc)) from None
                except BaseException:
                    self._terminate()
                    self._cleanup_workdir()
                    raise
            atexit.register(self.stop)
            return self

    def stop(self) -> None:
        """Terminate the process group, then remove the work directory."""
        with self._lock:
            self._terminate()
            self._cleanup_workdir()
            try:
                atexit.unregister(self.stop)
            except Exception:  # pragma: no cover
                pass

    # -- status ------------------------------------------------------------

    def health(self, timeout: float = 2.0) -> dict:
        """The decoded ``/_localstack/health`` document."""
        return self._get_json("/_localstack/health", timeout)

    def log_tail(self, lines: int = 60, *, since: int = 0) -> str:
        """The last ``lines`` lines of LocalStack's log (from byte ``since`` on)."""
        path = self.log_path
        if path is None or not path.exists():
            return "(no log)"
        try:
            with open(path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(since, size - 64 * 1024))
                data = fh.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return "\n".join(data.splitlines()[-lines:])

    # -- internals ---------------------------------------------------------

    def _environment(self, port: int, volume_dir: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        # LocalStack calls itself (e.g. EventBridge delivering to SQS): never
        # through a proxy configured for the outside world.
        no_proxy = ",".join(
            filter(None, [env.get("NO_PROXY") or env.get("no_proxy"), "127.0.0.1,localhost,.localhost"])
        )
        env["NO_PROXY"] = env["no_proxy"] = no_proxy
        env.update(
            {
                "GATEWAY_LISTEN": f"{self.host}:{port}",
                # Host name used in URLs LocalStack hands out (queue URLs,
                # S3 locations). The default, localhost.localstack.cloud,
                # needs public DNS.
                "LOCALSTACK_HOST": f"localhost:{port}",
                # Queue URLs echo the host the client used (endpoint_url).
                "SQS_ENDPOINT_STRATEGY": "dynamic",
                "GATEWAY_SERVER": self.gateway_server,
                "SERVICES": ",".join(self.services),
                # Eager: load every service in SERVICES before "Ready." so the
                # health check proves they work ("running", not just
                # "available") and a broken service fails start(), not a test.
                # Costs ~1-2 s with the prebuilt service catalog.
                "EAGER_SERVICE_LOADING": "1" if self.eager else "0",
                "LOCALSTACK_VOLUME_DIR": str(volume_dir),
                # Host-mode state lives under FILESYSTEM_ROOT; keep it per
                # instance so parallel instances never share files.
                "FILESYSTEM_ROOT": str(volume_dir / "filesystem"),
                # When the machine itself is a container (/.dockerenv exists)
                # LocalStack would believe it runs in its own image and use
                # /var/lib/localstack and /tmp/localstack, shared by everyone.
                "OVERRIDE_IN_DOCKER": "0",
                # Do not read profiles from ~/.localstack/*.env.
                "CONFIG_DIR": str(volume_dir / "config"),
                # Nothing that reaches out to the internet.
                "SKIP_SSL_CERT_DOWNLOAD": "1",
                "DISABLE_EVENTS": "1",  # analytics / usage events
                "DNS_ADDRESS": "0",  # no embedded DNS server (would bind port 53)
                "PERSISTENCE": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _launch(self) -> None:
        port = self.requested_port or _free_port(self.host)
        if self.requested_port and _port_in_use(self.host, port):
            raise LocalStackError(f"port {self.host}:{port} is already in use")

        if self._workdir is None:
            if self._given_workdir is not None:
                self._given_workdir.mkdir(parents=True, exist_ok=True)
                self._workdir = self._given_workdir
                self._owns_workdir = False
            else:
                self._workdir = Path(tempfile.mkdtemp(prefix="headwater-localstack-"))
                self._owns_workdir = True
        volume_dir = self._workdir / "volume"
        volume_dir.mkdir(parents=True, exist_ok=True)
        self._seed_service_catalog(volume_dir / "filesystem")
        self._seed_init_hooks(volume_dir / "filesystem")

        self._log_file = open(self.log_path, "ab")
        # Start of this attempt in the log: earlier attempts' lines must not
        # be mistaken for this one's.
        self._log_offset = self._log_file.tell()
        self._log_file.write(
            f"--- headwater launcher: starting LocalStack on {self.host}:{port} ---\n".encode()
        )
        self._log_file.flush()
        use_pdeathsig = self.die_with_parent and sys.platform.startswith("linux")
        self._port = port
        self._proc = subprocess.Popen(
            [str(self.python), "-m", "localstack.runtime.main"],
            cwd=str(self._workdir),
            env=self._environment(port, volume_dir),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own session => own process group (pgid == pid)
            preexec_fn=_die_with_parent if use_pdeathsig else None,
            close_fds=True,
        )

    def _seed_service_catalog(self, filesystem_root: Path) -> None:
        """Copy the prebuilt AWS service catalog index into this instance.

        Without it LocalStack spends ~4 s building the index on every start.
        ``setup.sh`` builds it once into ``<venv>/service-catalog``; the file
        name carries the LocalStack and botocore versions, so a stale one is
        simply ignored by LocalStack.
        """
        source = self.python.parent.parent / SERVICE_CATALOG_DIRNAME
        if not source.is_dir():
            return
        static_libs = filesystem_root / "usr" / "lib" / "localstack"
        static_libs.mkdir(parents=True, exist_ok=True)
        for catalog in source.glob("service-catalog-*.dill"):
            try:
                shutil.copyfile(catalog, static_libs / catalog.name)
            except OSError:
                pass  # an optimisation only

    def _seed_init_hooks(self, filesystem_root: Path) -> None:
        """Copy ``localstack/init`` (the hooks the Docker set-up mounts) to where host mode looks for them.

        In host mode LocalStack runs the init hooks under ``<FILESYSTEM_ROOT>/etc/localstack/init``;
        ``ready.d/20-iam-simulator.py`` patches its IAM policy simulator (see that file), so the hooks
        are not optional: ``start()`` returns only once the ready stage has run them.
        """
        target = filesystem_root / "etc" / "localstack" / "init"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(HERE / "init", target)

    def _wait_ready(self) -> None:
        assert self._proc is not None and self._port is not None
        started = time.monotonic()
        deadline = started + self.startup_timeout
        last_seen: object = "no response yet"
        seen_ready_line = False
        while True:
            code = self._proc.poll()
            tail = self.log_tail(since=self._log_offset)
            if any(marker in tail for marker in _BIND_ERRORS):
                raise _PortTaken(f"LocalStack could not bind {self.host}:{self._port}:\n{tail}")
            if code is not None:
                raise LocalStackError(
                    f"LocalStack exited with code {code} during start-up.\n"
                    f"--- last lines of its log ---\n{tail}"
                )
            seen_ready_line = seen_ready_line or "\nReady." in tail
            # Whoever answers on the port must be our child: LocalStack does
            # not exit (or even log) when its port is taken; it prints
            # "Ready." and the health check would reach the other server.
            owned = _owns_listening_port(self._proc.pid, self._port)
            if owned is False and seen_ready_line:
                raise _PortTaken(
                    f"{self.host}:{self._port} is held by another process; "
                    f"LocalStack could not listen on it.\n{tail}"
                )
            if owned is not False:
                try:
                    health = self.health(timeout=2.0)
                    states = health.get("services", {})
                    missing = {
                        name: states.get(name, "absent")
                        for name in self.required_services
                        if states.get(name) not in _READY_STATES
                    }
                    last_seen = missing or states
                    if not missing and self._init_ready():
                        self.startup_seconds = time.monotonic() - started
                        return
                except (OSError, ValueError) as exc:  # not listening yet / partial reply
                    last_seen = exc
            if time.monotonic() >= deadline:
                raise LocalStackError(
                    f"LocalStack not ready after {self.startup_timeout:.0f}s "
                    f"(last health: {last_seen}).\n"
                    f"--- last lines of its log ---\n{self.log_tail(since=self._log_offset)}"
                )
            time.sleep(0.25)

    def _init_ready(self) -> bool:
        """True once the READY init stage has completed (or is not reported)."""
        try:
            stage = self._get_json("/_localstack/init/ready", 2.0)
        except urllib.error.HTTPError as exc:
            return exc.code == 404
        return bool(stage.get("completed", True))

    def _get_json(self, path: str, timeout: float) -> dict:
        # Talk to the loopback address directly, never through a proxy.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.endpoint}{path}", timeout=timeout) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            pgid = proc.pid  # start_new_session: the group id is the child's pid
            if proc.poll() is None:
                self._signal_group(pgid, signal.SIGTERM)
                try:
                    proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(pgid, signal.SIGKILL)
                    proc.wait(timeout=10)
            # Children left behind in the group after the leader exited.
            self._signal_group(pgid, signal.SIGKILL)
        if self._log_file is not None:
            try:
                self._log_file.close()
            finally:
                self._log_file = None

    @staticmethod
    def _signal_group(pgid: int, sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _cleanup_workdir(self) -> None:
        workdir, self._workdir = self._workdir, None
        if workdir is not None and self._owns_workdir and not self.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port else "not started"
        return f"<LocalStackProcess {where} pid={self.pid} running={self.running}>"


class _PortTaken(LocalStackError):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run LocalStack in host mode (no Docker) until interrupted."
    )
    parser.add_argument("--port", type=int, default=4566, help="0 picks a free port (default 4566)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--services", default=",".join(DEFAULT_SERVICES))
    parser.add_argument("--timeout", type=float, default=90.0, help="start-up timeout in seconds")
    parser.add_argument("--python", default=None, help="interpreter of the LocalStack virtualenv")
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep the work directory (state, log) on exit"
    )
    args = parser.parse_args(argv)

    services = [s.strip() for s in args.services.split(",") if s.strip()]
    ls = LocalStackProcess(
        port=args.port,
        host=args.host,
        services=services,
        required_services=[s for s in REQUIRED_SERVICES if s in services],
        startup_timeout=args.timeout,
        python=args.python,
        keep_workdir=args.keep_workdir,
    )
    stop = threading.Event()

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    # During start-up a signal interrupts start(), which then cleans up.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        ls.start()
    except LocalStackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        print(
            f"LocalStack ready at {ls.endpoint} in {ls.startup_seconds:.1f}s "
            f"(pid {ls.pid}, log {ls.log_path}); Ctrl-C to stop",
            flush=True,
        )
        while not stop.is_set():
            if not ls.running:
                print(f"LocalStack exited unexpectedly:\n{ls.log_tail()}", file=sys.stderr)
                return 1
            stop.wait(1.0)
    finally:
        ls.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
