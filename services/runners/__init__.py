"""Runners: how a container's entrypoint is started for a job."""

from __future__ import annotations

from services.runners.base import Runner, RunningContainer, RunSpec


def make_runner(kind: str) -> Runner:
    """The runner named by the ``runner`` setting."""
    if kind == "process":
        from services.runners.process import ProcessRunner

        return ProcessRunner()
    if kind == "docker":
        from services.runners.docker import DockerRunner

        return DockerRunner()
    raise ValueError(f"unknown runner {kind!r}; expected 'process' or 'docker'")


__all__ = ["Runner", "RunningContainer", "RunSpec", "make_runner"]
