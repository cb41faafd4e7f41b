"""Errors raised by Headwater's services.

Two families, because they are handled differently:

* ``ServiceError`` leaves are *API errors*: a bad request, a missing or
  duplicate resource. The control plane turns them into the AWS error code a
  boto3 user would see (``code``) with HTTP ``status``. They are never retried.
* ``PlatformError`` leaves are *our* failures (an emulator that did not
  answer, a lost worker). Event handlers let them propagate so the message is
  retried and, after its retries, dead-lettered.

A user's bad *data* is neither: it fails the job with a ``FailureReason``
(see ``containers/common``) and is not retried.
"""

from __future__ import annotations


class HeadwaterError(Exception):
    """Base of every error Headwater raises on purpose."""


class ServiceError(HeadwaterError):
    """An error with an AWS error code, returned to API callers as is."""

    code: str = "InternalFailure"
    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationException(ServiceError):
    """The request does not satisfy the operation's input constraints."""

    code = "ValidationException"


class ResourceNotFound(ServiceError):
    """The named resource does not exist."""

    code = "ResourceNotFound"


class ResourceInUse(ServiceError):
    """A resource with that name exists already, or is busy."""

    code = "ResourceInUse"


class ResourceLimitExceeded(ServiceError):
    """A configured limit (e.g. concurrent jobs) was reached."""

    code = "ResourceLimitExceeded"


class ConflictException(ServiceError):
    """The resource changed concurrently; the caller may retry."""

    code = "ConflictException"


class UnknownOperationException(ServiceError):
    """The ``X-Amz-Target`` names no operation this server implements."""

    code = "UnknownOperationException"


class SerializationException(ServiceError):
    """The request body is not valid JSON of the expected shape."""

    code = "SerializationException"


class MissingAuthenticationTokenException(ServiceError):
    """The node requires its access token and the request carries no credential at all."""

    code = "MissingAuthenticationTokenException"
    status = 403


class UnrecognizedClientException(ServiceError):
    """The request's credential (SigV4 access key id, or bearer token) is not the node's access token."""

    code = "UnrecognizedClientException"
    status = 403


class InternalFailure(ServiceError):
    """An unexpected server-side error, reported as AWS reports its own."""

    code = "InternalFailure"
    status = 500


class PlatformError(HeadwaterError):
    """A failure of the platform itself (retry, then dead-letter)."""


class PreconditionFailed(PlatformError):
    """A conditional write lost a race (``If-None-Match`` / ``If-Match``)."""


class ClaimLost(PlatformError):
    """The attempt's worker no longer holds the job: another worker took it over (this one stalled past
    its heartbeat). The attempt stops and writes nothing more; the job's new holder runs it."""


class TaskLost(PlatformError):
    """A task's worker stopped heartbeating and its retries are spent."""


class JobFailed(HeadwaterError):
    """A job cannot succeed for a reason its user must fix (bad data, bad
    configuration): it is failed with this message as ``FailureReason`` and
    never retried."""


class UnsafeBindHost(HeadwaterError):
    """The node would serve code-running APIs beyond this machine with nothing checking who calls."""
