"""The environment pool: admission as Lambda throttles, reuse of warm environments, reaping, init errors.

Real environments (processes running the runtime client over the Runtime API
on loopback); CloudWatch is a double that keeps what it is sent.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.functions.environment import EnvironmentSpec, Invocation
from services.functions.exceptions import TooManyRequestsException
from services.functions.pool import EnvironmentPool
from services.functions.runtime_api import RuntimeApiServer


class Logs:
    """A CloudWatch Logs double."""

    def __init__(self) -> None:
        self.events: dict[str, list[str]] = {}

    async def ensure_stream(self, group: str, stream: str) -> None:
        self.events.setdefault(stream, [])

    async def put(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        self.events.setdefault(stream, []).extend(m for _, m in events)


def spec(code_dir: Path, source: str, revision: str = "r1") -> EnvironmentSpec:
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / "app.py").write_text(textwrap.dedent(source))
    return EnvironmentSpec(function_name="fn", version="$LATEST", revision_id=revision, code_sha256="sha",
                           code_dir=code_dir, handler="app.handler", runtime="python3.11", memory_mb=256,
                           timeout_s=10, log_group="/aws/lambda/fn")


async def no_variables() -> dict[str, str]:
    return {"_HANDLER": "app.handler", "AWS_LAMBDA_FUNCTION_NAME": "fn", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[EnvironmentPool]:
    api = RuntimeApiServer()
    await api.start()
    logs: Any = Logs()
    p = EnvironmentPool(api, logs, tmp_path / "logs", max_concurrency=2, idle_seconds=300)
    yield p
    await p.close()
    await api.close()


PID = """
import os

def handler(event, context):
    print("serving", event["n"])
    return os.getpid()
"""


def test_admission_as_lambda_throttles() -> None:
    p = EnvironmentPool(None, None, Path("."), max_concurrency=2, idle_seconds=1)  # type: ignore[arg-type]
    p.admit("reserved", 1)
    with pytest.raises(TooManyRequestsException) as err:
        p.admit("reserved", 1)
    assert err.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    p.admit("a", None)
    p.admit("b", None)
    with pytest.raises(TooManyRequestsException) as err:
        p.admit("c", None)  # the unreserved functions share the node's concurrency
    assert err.value.reason == "ConcurrentInvocationLimitExceeded"
    p.admit("reserved-elsewhere", 1)  # reserved concurrency is not taken from the shared pool
    p.release("a", None)
    p.admit("c", None)
    p.release("reserved", 1)
    p.admit("reserved", 1)
    with pytest.raises(TooManyRequestsException):
        p.admit("zero", 0)


async def test_a_warm_environment_is_reused_and_its_init_reported_once(pool: EnvironmentPool, tmp_path: Path) -> None:
    s = spec(tmp_path / "code", PID)
    first = await pool.run(s, Invocation("r-1", b'{"n": 1}', "arn"), no_variables)
    second = await pool.run(s, Invocation("r-2", b'{"n": 2}', "arn"), no_variables)
    assert not first.failed and json.loads(first.payload) == json.loads(second.payload)
    assert pool.started == 1
    assert first.init_duration_ms is not None and second.init_duration_ms is None
    assert "serving 2" in second.log_lines and "serving 1" not in second.log_lines
    assert second.log_lines[0] == "START RequestId: r-2 Version: $LATEST"
    assert second.log_lines[-1].startswith("REPORT RequestId: r-2\tDuration: ")
    assert "Init Duration" in first.log_lines[-1] and "Init Duration" not in second.log_lines[-1]


async def test_a_new_revision_gets_new_environments_and_retire_stops_the_old(pool: EnvironmentPool,
                                                                             tmp_path: Path) -> None:
    old = spec(tmp_path / "old", PID, "r1")
    await pool.run(old, Invocation("r-1", b'{"n": 1}', "arn"), no_variables)
    new = spec(tmp_path / "new", PID, "r2")
    await pool.run(new, Invocation("r-2", b'{"n": 2}', "arn"), no_variables)
    assert pool.started == 2 and len(pool.environments("fn")) == 2
    await pool.retire("fn")
    assert pool.environments("fn") == []


async def test_idle_environments_are_reaped(pool: EnvironmentPool, tmp_path: Path) -> None:
    s = spec(tmp_path / "code", PID)
    await pool.run(s, Invocation("r-1", b'{"n": 1}', "arn"), no_variables)
    assert await pool.reap() == 0  # idle for less than idle_seconds
    pool.idle_seconds = 0
    assert await pool.reap() == 1
    assert pool.environments() == []


async def test_an_init_error_fails_the_invocation_and_discards_the_environment(pool: EnvironmentPool,
                                                                               tmp_path: Path) -> None:
    s = spec(tmp_path / "code", "raise ValueError('bad config')\n")
    record = await pool.run(s, Invocation("r-1", b"{}", "arn"), no_variables)
    error = json.loads(record.payload)
    assert record.error_type == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': bad config"
    assert any(line.startswith("INIT_REPORT") and "Status: error" in line for line in record.log_lines)
    assert pool.environments() == []


async def test_a_process_that_exits_is_reported_as_lambdas(pool: EnvironmentPool, tmp_path: Path) -> None:
    s = spec(tmp_path / "code", "import sys\n\ndef handler(e, c):\n    sys.exit(3)\n")
    record = await pool.run(s, Invocation("r-1", b"{}", "arn"), no_variables)
    error = json.loads(record.payload)
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"] == "RequestId: r-1 Error: Runtime exited with error: exit status 3"
    assert pool.environments() == []
