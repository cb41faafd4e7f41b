"""Errors an algorithm raises on purpose.

The split mirrors how SageMaker reports a failed job: a ``CustomerError`` is
the user's fault (bad data, bad hyperparameters) and its message is shown to
them verbatim as the job's FailureReason, so it must say exactly what to fix.
Anything else is the algorithm's or the platform's fault and is reported with
its type and traceback so that a maintainer can find it.
"""

from __future__ import annotations


class AlgorithmError(Exception):
    """Base of every error an algorithm container raises deliberately."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class CustomerError(AlgorithmError):
    """The user's input or hyperparameters are wrong; the message says how."""


class PlatformError(AlgorithmError):
    """The environment the container runs in is broken (missing config, I/O)."""
