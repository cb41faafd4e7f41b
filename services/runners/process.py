"""The ``process`` runner: a container's entrypoint as a local child process.

The child gets ``SAGEMAKER_BASE_DIR`` pointing at the job's own tree, so the
entrypoint that reads ``/opt/ml`` in a container reads the job directory
here. It runs in its own session (process group), so stopping it reaches
every process it started, and nothing else.

Its environment is what a container would get: the contract's variables
(the spec's, the runner's) plus a short allow-list of the node's process
variables a program needs to run at all (``PATH``, the locale, where temporary
files and certificates are). Everything else of the node's (its AWS keys,
its ``HEADWATER_*`` settings, its operator's other secrets) stays out: the
child runs the user's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Mapping

from services.core.exceptions import PlatformError
from services.runners.base import Runner, RunningContainer, RunSpec
from services.runners.child import STREAM_LIMIT, die_with_parent, read_lines
from services.runners.host_view import write_prelude
from services.runners.images import CONTAINERS_DIR, FRAMEWORK_IMAGES, ContainerImage, image_environment
from services.runners.job_python import image_site_dirs, make_job_python
from services.runners.namespace import (
    OPT_ML,
    namespaces_available,
    network_namespaces_available,
    wrap_command,
    write_hosts_file,
)
from services.runners.warm_pool import TemplatePool

log = logging.getLogger(__name__)

# The node's process variables a child inherits: where programs, libraries and the interpreter's
# packages are (PYTHONPATH: `python -m containers.<image>` from a checkout), the locale and time
# zone, the user and home (pip's own configuration), temporary files, certificate bundles, the
# network's proxies (a job's `pip install` goes out the way the node does), the GPUs the node was
# given. No credentials: a job's AWS variables come from the runner's `env`.
INHERITED_VARIABLES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
    "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "PYTHONUTF8", "PYTHONIOENCODING",
    "VIRTUAL_ENV", "CONDA_PREFIX", "LD_LIBRARY_PATH", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "AWS_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "CUDA_VISIBLE_DEVICES",
})
INHERITED_PREFIXES = ("LC_",)


def inherited_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of the node's ``environ`` a container's process may see."""
    return {k: v for k, v in environ.items() if k in INHERITED_VARIABLES or k.startswith(INHERITED_PREFIXES)}


class _StreamProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's protocol for a child's output that also tells when the child itself has exited.

    ``Process.wait()`` returns only once the child's pipes have closed as well; a process the child left
    running keeps them open (a daemon it started inherits its output), which would put the end off forever.
    """

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


class ProcessContainer(RunningContainer):
    """A running child process group."""

    def __init__(self, proc: asyncio.subprocess.Process, exited: asyncio.Event) -> None:
        self.proc = proc
        self._exited = exited  # set when the child exits (its output may stay open longer)

    @property
    def ident(self) -> str:
        return f"pid {self.proc.pid}"

    async def lines(self) -> AsyncIterator[str]:
        assert self.proc.stdout is not None
        async for line in read_lines(self.proc.stdout, STREAM_LIMIT):
            yield line

    async def wait(self) -> int:
        await self._exited.wait()
        # A container's end ends every process in it: what the program left running in its group (a daemon
        # it started, such as MPI's SSH server) goes with it rather than outliving the job.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        code = self.proc.returncode
        assert code is not None  # set before the protocol hears of the exit
        return code

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.proc.returncode is not None:
            return
        try:
            # start_new_session made the child a group leader: its pgid is its pid.
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    async def terminate(self) -> None:
        self._signal_group(signal.SIGTERM)

    async def kill(self) -> None:
        self._signal_group(signal.SIGKILL)


@functools.cache
def _warn_no_environment(name: str) -> None:
    """Once per image: its jobs run on the node's libraries, which need not be the image's."""
    log.warning("framework image %s has no environment of its own (build it with `make images`); its "
                "containers run on the node's Python and libraries", name)


# What an MPI job's hosts run besides the image's Python: (program, the Debian package that has it).
_MPI_PROGRAMS = (("/usr/sbin/sshd", "openssh-server"), ("ssh", "openssh-client"), ("ssh-keygen", "openssh-client"),
                 ("mpirun", "openmpi-bin"))
_MPI_MODULES = "import mpi4py.MPI, paramiko"


class ProcessRunner(Runner):
    """Runs ``python -m <container module> <command>`` with the job tree as base.

    ``python`` is the interpreter of Headwater's containers (the node's by default, which holds their
    libraries), except a framework image's, which runs on its own environment where one is built
    (:func:`services.runners.images.image_environment`); an interpreter image (see :mod:`services.runners.images`) brings its own, and runs only a
    job's own entrypoint. A spec with its own ``entrypoint`` runs with ``python`` / ``python3`` / ``pip``
    first on ``PATH`` from a job environment over the image's interpreter
    (:mod:`services.runners.job_python`), so what it pip-installs stays the job's.
    """

    def __init__(self, python: str = sys.executable, env: Mapping[str, str] | None = None,
                 pool: TemplatePool | None = None) -> None:
        super().__init__(env)
        self.python = python
        # Warm templates the hosts of Headwater's containers are forked from (services.runners.warm_pool).
        self.pool = pool
        self._site_dirs: dict[str, list[str]] = {}  # per image interpreter, asked once
        self._mpi_modules: dict[str, str] = {}  # per image interpreter: why mpi4py / paramiko do not import ("")

    def base_dir(self, spec: RunSpec) -> str:
        # An isolated job runs in the private namespace anyway: it sees the literal /opt/ml too.
        wanted = spec.literal_paths or spec.network_isolated
        return OPT_ML if wanted and namespaces_available() else str(spec.ml_root)

    def isolation_unavailable(self) -> str | None:
        """An isolated job runs in a network namespace of its own; some kernels (and sandboxes) refuse one."""
        if network_namespaces_available():
            return None
        return ("this machine's kernel does not let an unprivileged process make a network namespace (unshare "
                "--user --net), in which the process runner runs a job without network; use the docker runner")

    async def missing_for_mpi(self, image: ContainerImage) -> list[str]:
        missing = []
        if os.geteuid() != 0:
            missing.append(f"a node running as root (it runs as uid {os.geteuid()}): each host's SSH server "
                           "binds port 22 on the host's own loopback address")
        if not namespaces_available():
            missing.append("private namespaces (unshare): each host's own host name, /tmp and /etc files")
        if not os.path.exists("/etc/environment"):
            missing.append("/etc/environment (each host is shown a private one over it)")
        missing += [f"{program} (Debian's {package})" for program, package in _MPI_PROGRAMS
                    if shutil.which(program) is None]
        python = image.python or self.python
        if python not in self._mpi_modules:
            proc = await asyncio.create_subprocess_exec(
                python, "-c", _MPI_MODULES, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            out, _ = await proc.communicate()
            lines = out.decode("utf-8", errors="replace").strip().splitlines()
            self._mpi_modules[python] = (lines[-1] if lines else "no output") if proc.returncode else ""
        if self._mpi_modules[python]:
            missing.append(f"mpi4py and paramiko in the image's Python, {python} ({self._mpi_modules[python]})")
        return missing

    async def start(self, spec: RunSpec) -> RunningContainer:
        if spec.network_isolated and (reason := self.isolation_unavailable()):
            raise PlatformError(f"cannot run {spec.name} without network: {reason}")
        base = self.base_dir(spec)
        if spec.view is not None and base != OPT_ML:
            raise PlatformError(f"{spec.name} asks for a host of its own, which needs private namespaces (unshare)")
        if spec.view is not None and spec.view.root_capabilities and os.geteuid() != 0:
            raise PlatformError(f"{spec.name} asks for root's capabilities; the node runs as uid {os.geteuid()}")
        env = {**inherited_env(os.environ), **self.container_env(spec, base), "PYTHONUNBUFFERED": "1"}
        # The image's interpreter: a framework image's own environment, the node's (this one) for the other
        # containers of Headwater's, or the one named for a user's image.
        own = image_environment(spec.image)
        python = spec.image.python or (str(own) if own else self.python)
        if own:
            # Its `python -m containers.<image>` imports the container's code from this source tree, and
            # nothing else of the node's: only the environment's own site directory holds libraries.
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CONTAINERS_DIR.parent), env.get("PYTHONPATH")]))
            env["VIRTUAL_ENV"] = str(own.parent.parent)
        elif not spec.image.python and spec.image.name in FRAMEWORK_IMAGES:
            _warn_no_environment(spec.image.name)
        if spec.image.python and not spec.entrypoint:
            raise PlatformError(f"image {spec.image.image} has no Headwater container: the interpreter named for "
                                "it runs only a job's own entrypoint, and this job has none")
        if spec.image.python and not os.access(python, os.X_OK):
            raise PlatformError(f"the interpreter named for image {spec.image.image}, {python}, "
                                "is not an executable file")
        # `python3` in an entrypoint means that interpreter, as the image's python would.
        env["PATH"] = os.pathsep.join([os.path.dirname(python), env.get("PATH", "")])
        if spec.entrypoint:
            # The container's own program: its python is the image's interpreter in a job environment of its
            # own, so what it pip-installs stays the job's (see services.runners.job_python).
            if python not in self._site_dirs:
                self._site_dirs[python] = await image_site_dirs(python)
            env.update((await make_job_python(python, spec.ml_root, self._site_dirs[python])).env(env))
        argv = [*spec.entrypoint, *spec.command] if spec.entrypoint else [
            python, "-m", spec.image.module, *spec.command]
        if self.pool is not None and not spec.entrypoint and not spec.image.python and base != OPT_ML:
            # A host in the node's namespaces running the image's own module: forked from a warm template
            # of that image where one is ready. (A host in a namespace of its own starts fresh: the wrapper
            # that mounts its /opt/ml is a program of its own, which a fork would not run.)
            key = self.pool.key(python, spec.image.name, spec.image.module, env)
            forked = await self.pool.fork(key, list(spec.command), spec.ml_root, env)
            if forked is not None:
                return forked
        if base == OPT_ML:
            hosts_file = write_hosts_file(spec.ml_root, spec.hosts) if spec.hosts else None
            view = write_prelude(spec.ml_root, spec.view) if spec.view else None
            argv = wrap_command(spec.ml_root, argv, hosts_file, view,
                                root_capabilities=spec.view is not None and spec.view.root_capabilities,
                                network_isolated=spec.network_isolated)
        loop = asyncio.get_running_loop()
        try:
            # asyncio.create_subprocess_exec, with a protocol that also tells when the child exits.
            transport, protocol = await loop.subprocess_exec(
                lambda: _StreamProtocol(STREAM_LIMIT, loop), *argv,
                cwd=spec.ml_root, env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent,
            )
        except OSError as err:
            raise PlatformError(f"could not start {spec.image.label}: {err}") from err
        return ProcessContainer(asyncio.subprocess.Process(transport, protocol, loop), protocol.exited)
