"""Reading the endpoints a running node serves, for CLI commands and tests."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from infra.endpoint_variables import endpoint_variables
from infra.sdk_defaults import ENDPOINTS_KEY as SDK_DEFAULTS_KEY
from services.core.settings import Settings


class NodeNotRunning(RuntimeError):
    """No ``endpoints.json``, or one a node that has died left: ``headwater up`` is not running here."""


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it runs
        return True
    return True


def read_endpoints(state_dir: Path) -> dict[str, Any]:
    """The endpoints ``headwater up`` wrote under ``state_dir``."""
    path = state_dir / "endpoints.json"
    try:
        endpoints: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise NodeNotRunning(f"{path} not found: start Headwater with `headwater up` first") from err
    pid = endpoints.get("pid")
    # A clean stop removes the file; a killed node leaves it, pointing at ports nothing serves.
    if isinstance(pid, int) and not _running(pid):
        raise NodeNotRunning(f"{path} was written by a node (pid {pid}) that is no longer running: start it "
                             f"again with `headwater up` (the embedded emulator's state is kept)")
    return endpoints


def env_exports(endpoints: dict[str, Any], with_token: bool = False) -> list[str]:
    """``export`` lines that point boto3, the AWS CLI and the SageMaker SDK at Headwater.

    On an emulator: the default execution role's ARN (``SAGEMAKER_EXECUTION_ROLE_ARN``), as the
    credentials the node's session of that role (see :mod:`infra.identity`), and the SageMaker SDK's
    defaults file (``SAGEMAKER_ADMIN_CONFIG_OVERRIDE``: its default bucket, see :mod:`infra.sdk_defaults`).
    ``with_token``: the node requires its access token, so the access key id is the shell's
    ``$HEADWATER_ACCESS_TOKEN`` (referenced, never printed; an emulator takes any key id).
    """
    lines = [f"export {var}={shlex.quote(value)}" for var, value in endpoint_variables(endpoints).items()]
    region = endpoints.get("region", "us-east-1")
    lines += [f"export AWS_DEFAULT_REGION={region}", f"export AWS_REGION={region}"]
    if endpoints.get("execution_role"):
        lines.append(f"export SAGEMAKER_EXECUTION_ROLE_ARN={shlex.quote(endpoints['execution_role'])}")
    if endpoints.get(SDK_DEFAULTS_KEY):
        lines.append(f"export SAGEMAKER_ADMIN_CONFIG_OVERRIDE={shlex.quote(endpoints[SDK_DEFAULTS_KEY])}")
    session = endpoints.get("execution_role_session")
    if endpoints.get("aws") != "aws" and session and not with_token:
        lines += [f"export AWS_ACCESS_KEY_ID={shlex.quote(session['AccessKeyId'])}",
                  f"export AWS_SECRET_ACCESS_KEY={shlex.quote(session['SecretAccessKey'])}",
                  f"export AWS_SESSION_TOKEN={shlex.quote(session['SessionToken'])}"]
    elif endpoints.get("aws") != "aws":
        key_id = '"$HEADWATER_ACCESS_TOKEN"' if with_token else "testing"
        lines += [f"export AWS_ACCESS_KEY_ID={key_id}", "export AWS_SECRET_ACCESS_KEY=testing"]
    return lines


def settings_for_client(state_dir: Path, aws_endpoint: str | None) -> tuple[Settings, dict[str, str]]:
    """Settings and endpoints for a CLI command talking to a running node."""
    endpoints = read_endpoints(state_dir)
    settings = Settings(state_dir=state_dir, aws_endpoint=aws_endpoint or endpoints["aws"],
                        region=endpoints.get("region", "us-east-1"))
    return settings, endpoints
