"""The variables that point AWS SDKs at a node's endpoints (``AWS_ENDPOINT_URL_<SERVICE>``).

``headwater env`` exports them for a user's shell, and a function's
execution environment gets them, so that boto3 inside it talks to the node
with no code change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: ``endpoints.json`` key -> the variable boto3 (and the AWS CLI) reads.
ENDPOINT_VARIABLES = {
    "aws": "AWS_ENDPOINT_URL",
    "sagemaker": "AWS_ENDPOINT_URL_SAGEMAKER",
    "metrics": "AWS_ENDPOINT_URL_SAGEMAKER_METRICS",
    "runtime": "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
    "lambda": "AWS_ENDPOINT_URL_LAMBDA",
    "autoscaling": "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING",
}


def endpoint_variables(endpoints: Mapping[str, Any]) -> dict[str, str]:
    """The variables for the endpoints a node serves (none for real AWS's own)."""
    return {var: str(endpoints[key]) for key, var in ENDPOINT_VARIABLES.items()
            if endpoints.get(key) and endpoints[key] != "aws"}
