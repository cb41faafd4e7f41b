"""The environment a user exports to point unchanged SageMaker SDK code at a node.

Standard endpoint variables (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SAGEMAKER``,
``AWS_ENDPOINT_URL_SAGEMAKER_METRICS``...),
dummy credentials, and the SDK's telemetry opted out through the file named by
``SAGEMAKER_USER_CONFIG_OVERRIDE``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/headwater-sdk"
TELEMETRY_OPT_OUT = """\
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
"""


@contextlib.contextmanager
def sdk_environment(node: Any, home: Path) -> Iterator[pytest.MonkeyPatch]:
    """Set the variables for the duration of the block."""
    config = home / "sagemaker-config.yaml"
    config.write_text(TELEMETRY_OPT_OUT)
    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
        mp.setenv("AWS_ENDPOINT_URL", node.endpoints["aws"])
        mp.setenv("AWS_ENDPOINT_URL_SAGEMAKER", node.endpoints["sagemaker"])
        if "metrics" in node.endpoints:
            mp.setenv("AWS_ENDPOINT_URL_SAGEMAKER_METRICS", node.endpoints["metrics"])
        if "runtime" in node.endpoints:
            mp.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", node.endpoints["runtime"])
        if "autoscaling" in node.endpoints:
            mp.setenv("AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING", node.endpoints["autoscaling"])
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        mp.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
        mp.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
        yield mp


def sdk_session(bucket: str) -> Any:
    """A ``sagemaker.Session`` found from the environment alone."""
    import boto3
    import sagemaker

    return sagemaker.Session(boto_session=boto3.Session(region_name=REGION), default_bucket=bucket)
