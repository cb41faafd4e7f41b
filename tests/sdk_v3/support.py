"""Running SageMaker Python SDK v3 code against a node: in a subprocess of ``tests/sdk_v3/.venv``.

The v3 SDK cannot live in the project's environment (that one holds v2), so each story is a small
script in ``scripts/``, written as a user writes it, run by the v3 virtualenv's interpreter with the
environment ``headwater env`` prints, and nothing else: no ``SAGEMAKER_VALIDATE_ROLE``, no profile,
no credentials file. A script's last line is ``RESULT <json>``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sdk_env import TELEMETRY_OPT_OUT

HERE = Path(__file__).resolve().parent
V3_PYTHON = HERE / ".venv" / "bin" / "python"
SCRIPTS = HERE / "scripts"
RESULT_PREFIX = "RESULT "


def exported(lines: list[str]) -> dict[str, str]:
    """The variables of ``headwater env``'s ``export NAME=value`` lines, unquoted as the shell would."""
    env: dict[str, str] = {}
    for line in lines:
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0] if value else ""
    return env


def v3_environment(exports: dict[str, str], home: Path) -> dict[str, str]:
    """A user's shell after ``eval "$(headwater env)"``, with the SDK's telemetry opted out (no network here)."""
    config = home / "sagemaker-config.yaml"
    config.write_text(TELEMETRY_OPT_OUT)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config), **exports}


@dataclass
class V3Run:
    """What one script did: its result and everything it printed."""

    result: dict[str, Any]
    output: str


def run_v3(script: str, env: dict[str, str], *args: str, timeout: float = 240) -> V3Run:
    """Run ``scripts/<script>.py`` with the v3 SDK; fail with its output unless it exits 0 with a result."""
    if not V3_PYTHON.exists():
        pytest.fail(f"{V3_PYTHON} is missing: `make sdk-v3-env` (bash tests/sdk_v3/setup.sh) creates it",
                    pytrace=False)
    proc = subprocess.run([str(V3_PYTHON), str(SCRIPTS / f"{script}.py"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=env["HOME"])
    output = proc.stdout + proc.stderr
    results = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    assert proc.returncode == 0 and results, f"{script} exited {proc.returncode}:\n{output[-6000:]}"
    return V3Run(json.loads(results[-1].removeprefix(RESULT_PREFIX)), output)
