"""Application Auto Scaling's own error codes, as botocore's ``application-autoscaling`` model names them.

``ValidationException`` is shared with SageMaker
(:class:`services.core.exceptions.ValidationException`); these are the leaves
only this API answers.
"""

from __future__ import annotations

from services.core.exceptions import ServiceError


class ObjectNotFoundException(ServiceError):
    """The scalable target or scaling policy named does not exist."""

    code = "ObjectNotFoundException"


class InvalidNextTokenException(ServiceError):
    """The ``NextToken`` was not issued by this API."""

    code = "InvalidNextTokenException"
