"""A step's ``RetryPolicies``, applied as SageMaker applies them.

A failure is first given its ``ExceptionType``:

* ``Step.THROTTLING`` / ``Step.SERVICE_FAULT``: the step's own request to the
  control plane was throttled, or failed on the service's side (any step type);
* ``SageMaker.RESOURCE_LIMIT``: creating the job hit a limit
  (``ResourceLimitExceeded``), or the job failed on one;
* ``SageMaker.CAPACITY_ERROR``: the job failed for want of capacity;
* ``SageMaker.JOB_INTERNAL_ERROR``: the job failed with the platform's
  ``InternalServerError`` (a container that could not start, a lost worker).

A user's error (a bad request, an ``AlgorithmError``, a ``ClientError``) has
no type and is never retried. The first policy listing the failure's type
decides: the next attempt starts ``IntervalSeconds * BackoffRate ** n``
seconds after the n-th retry's failure (n from 0), while fewer than
``MaxAttempts`` retries were made, or while that start lies within
``ExpireAfterMin`` minutes of the step's first attempt.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.core.exceptions import HeadwaterError, ServiceError, ValidationException

STEP_TYPES = frozenset({"Step.SERVICE_FAULT", "Step.THROTTLING"})
JOB_TYPES = frozenset({"SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT"})
EXCEPTION_TYPES = STEP_TYPES | JOB_TYPES
#: The SDK's caps (``sagemaker.workflow.retry``).
MAX_ATTEMPTS_CAP = 20
MAX_EXPIRE_AFTER_MIN = 14400

_THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
_FAULT_CODES = frozenset({"InternalFailure", "InternalServerError", "ServiceUnavailable", "InternalError"})


def request_exception_type(err: Exception) -> str | None:
    """The ``ExceptionType`` of a step's request that raised ``err``, or ``None`` (not retried)."""
    if isinstance(err, ServiceError):
        if err.code in _THROTTLING_CODES:
            return "Step.THROTTLING"
        if err.code == "ResourceLimitExceeded":
            return "SageMaker.RESOURCE_LIMIT"
        if err.code in _FAULT_CODES or err.status >= 500:
            return "Step.SERVICE_FAULT"
        return None
    if isinstance(err, HeadwaterError):  # a platform error: the service did not answer
        return "Step.SERVICE_FAULT"
    return None


def job_exception_type(reason: str | None) -> str | None:
    """The ``ExceptionType`` of a job that failed with ``reason``, or ``None`` (the user's error)."""
    text = reason or ""
    if text.startswith("InternalServerError"):
        return "SageMaker.JOB_INTERNAL_ERROR"
    if text.startswith(("CapacityError", "InsufficientCapacity")):
        return "SageMaker.CAPACITY_ERROR"
    if text.startswith("ResourceLimitExceeded"):
        return "SageMaker.RESOURCE_LIMIT"
    return None


def check_policies(step: str, policies: Any) -> None:
    """``ValidationException`` naming the step for a ``RetryPolicies`` list SageMaker would refuse."""
    if policies is None:
        return
    if not isinstance(policies, list):
        raise ValidationException(f"Step {step}: RetryPolicies must be a list")
    for policy in policies:
        if not isinstance(policy, dict):
            raise ValidationException(f"Step {step}: a retry policy must be an object, not {policy!r}")
        types = policy.get("ExceptionType")
        if not isinstance(types, list) or not types or not set(types) <= EXCEPTION_TYPES:
            raise ValidationException(f"Step {step}: a retry policy's ExceptionType must list some of "
                                      f"{sorted(EXCEPTION_TYPES)}, not {types!r}")
        attempts, expire = policy.get("MaxAttempts"), policy.get("ExpireAfterMin")
        if (attempts is None) == (expire is None):
            raise ValidationException(f"Step {step}: a retry policy takes one of MaxAttempts and ExpireAfterMin")
        if attempts is not None and not (isinstance(attempts, int) and 1 <= attempts <= MAX_ATTEMPTS_CAP):
            raise ValidationException(f"Step {step}: MaxAttempts must be 1 to {MAX_ATTEMPTS_CAP}, not {attempts!r}")
        if expire is not None and not (isinstance(expire, int) and 0 <= expire <= MAX_EXPIRE_AFTER_MIN):
            raise ValidationException(f"Step {step}: ExpireAfterMin must be 0 to {MAX_EXPIRE_AFTER_MIN}, "
                                      f"not {expire!r}")
        for member in ("IntervalSeconds", "BackoffRate"):
            value = policy.get(member, 0)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValidationException(f"Step {step}: {member} must be a non-negative number, not {value!r}")


def next_attempt_at(policies: list[dict[str, Any]] | None, exception_type: str | None, retries: int,
                    first_start: datetime, now: datetime) -> datetime | None:
    """When the next attempt starts, after ``retries`` retries so far, or ``None`` when the failure stands."""
    if exception_type is None:
        return None
    policy = next((p for p in policies or [] if exception_type in (p.get("ExceptionType") or [])), None)
    if policy is None:
        return None
    delay = float(policy.get("IntervalSeconds", 1)) * float(policy.get("BackoffRate", 2.0)) ** retries
    at = now + timedelta(seconds=delay)
    if policy.get("MaxAttempts") is not None:
        return at if retries < int(policy["MaxAttempts"]) else None
    return at if at - first_start <= timedelta(minutes=float(policy["ExpireAfterMin"])) else None
