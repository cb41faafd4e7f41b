"""The hosts of a job's cluster, named as SageMaker names them.

Training and processing jobs run one container per instance, ``algo-1`` to
``algo-N``; the names appear in ``resourceconfig.json``, log streams and
failure reasons.
"""

from __future__ import annotations


def host_names(count: int) -> list[str]:
    """SageMaker's host names for a cluster of ``count`` instances."""
    return [f"algo-{i}" for i in range(1, max(1, count) + 1)]


def exit_description(code: int) -> str:
    """How a container's process ended, for a ``FailureReason``: its exit code, or the signal that killed it."""
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"
