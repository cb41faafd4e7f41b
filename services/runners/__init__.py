"""Runners: how a container's entrypoint is started for a job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from services.runners.base import Runner, RunningContainer, RunSpec

if TYPE_CHECKING:
    from services.runners.warm_pool import TemplatePool


def make_runner(kind: str, env: Mapping[str, str] | None = None, pool: TemplatePool | None = None) -> Runner:
    """The runner named by the ``runner`` setting; ``env``: what each of its containers gets besides its
    spec's variables (:func:`services.aws.session.job_aws_env`); ``pool``: the warm templates the process
    runner forks hosts from (:mod:`services.runners.warm_pool`; none: every host starts fresh)."""
    if kind == "process":
        from services.runners.process import ProcessRunner

        return ProcessRunner(env=env, pool=pool)
    if kind == "docker":
        from services.runners.docker import DockerRunner

        return DockerRunner(env=env)
    raise ValueError(f"unknown runner {kind!r}; expected 'process' or 'docker'")


__all__ = ["Runner", "RunningContainer", "RunSpec", "make_runner"]
