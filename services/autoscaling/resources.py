"""What Headwater can scale: SageMaker endpoint variants, named as Application Auto Scaling names them.

``ServiceNamespace`` ``sagemaker``, ``ScalableDimension``
``sagemaker:variant:DesiredInstanceCount``, ``ResourceId``
``endpoint/<endpoint>/variant/<variant>``. Anything else is a
``ValidationException`` that says what is served, never a target that
silently never scales.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from services.core.exceptions import ValidationException

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
# The service-linked role AWS uses for SageMaker variants when no RoleARN is given.
ROLE_PATH = ("role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
             "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
# AWS's default cooldown for SageMaker variants, both directions.
DEFAULT_COOLDOWN = 300

_NAME = r"[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}"
_RESOURCE = re.compile(rf"endpoint/({_NAME})/variant/({_NAME})")


@dataclass(frozen=True)
class VariantRef:
    """The endpoint variant a resource id names."""

    endpoint: str
    variant: str


def parse_variant(namespace: str, resource_id: str, dimension: str) -> VariantRef:
    """The variant a (namespace, resource id, dimension) names; ``ValidationException`` if it cannot be scaled."""
    if namespace != NAMESPACE or dimension != DIMENSION:
        raise ValidationException(
            f"Unsupported service namespace, resource type or scalable dimension: this server scales SageMaker "
            f"endpoint variants only (ServiceNamespace '{NAMESPACE}', ScalableDimension '{DIMENSION}'), "
            f"got '{namespace}' and '{dimension}'.")
    match = _RESOURCE.fullmatch(resource_id)
    if match is None:
        raise ValidationException(f"Unsupported resource ID '{resource_id}' for scalable dimension {DIMENSION}: "
                                  "expected endpoint/<endpoint name>/variant/<variant name>.")
    return VariantRef(match.group(1), match.group(2))


def check_policy(params: dict[str, Any]) -> str:
    """Check a ``PutScalingPolicy`` request's type and configuration; return the policy type."""
    policy_type = params.get("PolicyType") or "StepScaling"  # AWS's default
    if policy_type == "PredictiveScaling":
        raise ValidationException(f"PredictiveScaling policies are not supported for scalable dimension {DIMENSION}.")
    if policy_type == "StepScaling":
        if not params.get("StepScalingPolicyConfiguration"):
            raise ValidationException("StepScalingPolicyConfiguration is required for a policy of type StepScaling.")
        return policy_type
    config = params.get("TargetTrackingScalingPolicyConfiguration")
    if not config:
        raise ValidationException(
            "TargetTrackingScalingPolicyConfiguration is required for a policy of type TargetTrackingScaling.")
    predefined = config.get("PredefinedMetricSpecification")
    customized = config.get("CustomizedMetricSpecification")
    if bool(predefined) == bool(customized):
        raise ValidationException("Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification "
                                  "must be specified.")
    if customized or predefined.get("PredefinedMetricType") != METRIC:
        got = "a CustomizedMetricSpecification" if customized else predefined.get("PredefinedMetricType")
        raise ValidationException(f"Target tracking on {got} is not supported for scalable dimension {DIMENSION}: "
                                  f"use the predefined metric {METRIC}.")
    if float(config["TargetValue"]) <= 0:
        raise ValidationException(f"TargetValue must be greater than 0 (got {config['TargetValue']}).")
    return policy_type
