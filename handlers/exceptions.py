"""Errors of the handler layer."""

from __future__ import annotations

from services.core.exceptions import HeadwaterError


class HandlerError(HeadwaterError):
    """Base of the handler layer's errors."""


class MalformedEvent(HandlerError):
    """A message that does not parse into the handler's event model."""


class HandlerTimeout(HandlerError):
    """A handler ran past its declared timeout."""


class UnknownHandler(HandlerError):
    """No handler is registered under that name."""


class BatchFailed(HandlerError):
    """Every record of an SQS batch failed: raised so that Lambda retries the whole batch, whether or not
    its event source mapping reports batch item failures."""
