"""Lambda's API errors, with the codes and statuses a boto3 ``lambda`` client reports."""

from __future__ import annotations

from services.core.exceptions import ServiceError


class LambdaError(ServiceError):
    """Base of the Lambda API's errors."""


class ResourceNotFoundException(LambdaError):
    """The function, version, alias or configuration does not exist."""

    code = "ResourceNotFoundException"
    status = 404


class ResourceConflictException(LambdaError):
    """The resource exists already, or an update is in progress."""

    code = "ResourceConflictException"
    status = 409


class InvalidParameterValueException(LambdaError):
    """A parameter's value is not one Lambda accepts."""

    code = "InvalidParameterValueException"
    status = 400


class InvalidRequestContentException(LambdaError):
    """The request body could not be parsed as JSON."""

    code = "InvalidRequestContentException"
    status = 400


class RequestTooLargeException(LambdaError):
    """The invocation payload is over Lambda's limit."""

    code = "RequestTooLargeException"
    status = 413


class PreconditionFailedException(LambdaError):
    """The ``RevisionId`` given is not the resource's current one."""

    code = "PreconditionFailedException"
    status = 412


class TooManyRequestsException(LambdaError):
    """The function's (or the node's) concurrency is in use: the invocation is throttled."""

    code = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ServiceException(LambdaError):
    """Lambda could not run the request (an internal failure)."""

    code = "ServiceException"
    status = 500
