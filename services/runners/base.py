"""The runner interface: run a container's entrypoint against a job tree.

A runner starts ``<image> train`` (or ``serve``) with the job's ``/opt/ml``
tree mounted or rooted, streams its merged stdout/stderr line by line, and
can be asked to stop (SIGTERM) or be killed (SIGKILL).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.runners.host_view import HostView
from services.runners.images import ContainerImage
from services.runners.namespace import OPT_ML

# What an isolated container is not given: it could not use them (SageMaker gives it no credentials either).
_NOT_ISOLATED = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")


@dataclass(frozen=True)
class RunSpec:
    """What to run, and where."""

    name: str  # a unique run name, e.g. "<job>-algo-1"
    image: ContainerImage
    command: list[str]  # ["train"] / ["serve"]
    ml_root: Path  # the host directory that is the container's /opt/ml
    env: dict[str, str] = field(default_factory=dict)
    # Run this argv instead of the image's own entrypoint (a job's ContainerEntrypoint).
    entrypoint: list[str] | None = None
    # Show the job tree at the literal /opt/ml (scripts that hardcode it), where the platform can.
    literal_paths: bool = False
    # Host names the container resolves (name -> address: a training job's algo-1..N), where the runner can.
    hosts: dict[str, str] = field(default_factory=dict)
    # EnableNetworkIsolation: no network but the container's own loopback, and no AWS credentials or endpoint.
    network_isolated: bool = False
    # This host as a machine of its own (host name, /etc files, /tmp, root's capabilities), where the runner can.
    view: HostView | None = None


def at_base(args: list[str], base: str) -> list[str]:
    """A job's ``ContainerEntrypoint`` / ``ContainerArguments`` with a leading ``/opt/ml`` pointing at ``base``.

    ``base`` is what the runner shows as ``/opt/ml`` (:meth:`Runner.base_dir`): without a private
    ``/opt/ml`` the job's own directory stands in for it, and an argument naming the literal path
    must follow.
    """
    if base == OPT_ML:
        return list(args)
    return [base + arg[len(OPT_ML):] if arg == OPT_ML or arg.startswith(OPT_ML + "/") else arg for arg in args]


class RunningContainer(ABC):
    """A started container."""

    @property
    @abstractmethod
    def ident(self) -> str:
        """The process id or container id (for logs)."""

    @abstractmethod
    def lines(self) -> AsyncIterator[str]:
        """The merged stdout/stderr, line by line, until the container exits."""

    @abstractmethod
    async def wait(self) -> int:
        """Wait for exit; return the exit code (negative: killed by that signal)."""

    @abstractmethod
    async def terminate(self) -> None:
        """Ask the container to stop (SIGTERM to its process group)."""

    @abstractmethod
    async def kill(self) -> None:
        """Stop it now (SIGKILL)."""


class Runner(ABC):
    """Starts containers.

    ``env`` is what every container of this runner gets besides its spec's own
    variables (the job's AWS endpoint, region and credentials, as the composition
    root decides them); a spec's variables win over it. Nothing else of the
    node's own environment reaches a container.
    """

    #: the container-side path the job tree appears at
    container_base: str = "/opt/ml"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env: dict[str, str] = dict(env or {})

    def container_env(self, spec: RunSpec, base: str) -> dict[str, str]:
        """The contract's variables for ``spec`` run with its job tree at ``base`` (without credentials and
        endpoints when it is network-isolated)."""
        env = {**self.env, **spec.env, "SAGEMAKER_BASE_DIR": base}
        if spec.network_isolated:
            env = {k: v for k, v in env.items() if k not in _NOT_ISOLATED and not k.startswith("AWS_ENDPOINT_URL_")}
        return env

    def isolation_unavailable(self) -> str | None:
        """Why this runner cannot run a network-isolated container here; ``None`` when it can."""
        return None

    @abstractmethod
    async def start(self, spec: RunSpec) -> RunningContainer:
        """Start ``spec``; raise :class:`services.core.exceptions.PlatformError` if it cannot start."""

    def base_dir(self, spec: RunSpec) -> str:
        """The path, as the container sees it, of ``spec.ml_root``."""
        return self.container_base

    async def missing_for_mpi(self, image: ContainerImage) -> list[str]:
        """What this runner lacks to run MPI hosts of ``image`` (empty when nothing): each host a machine of its
        own (:class:`HostView`) whose SSH server on port 22 the others reach by name, ``mpirun``, and
        ``mpi4py`` and ``paramiko`` in the image's Python."""
        return [f"the process runner: under the {type(self).__name__} the hosts share the machine's network, "
                "its port 22 and its host name"]
