"""Running one invocation of a function version: admission, environment, result, log tail.

The environment a function gets is Lambda's: its own ``Environment``
variables; Lambda's (``_HANDLER``, ``AWS_LAMBDA_FUNCTION_NAME``,
``AWS_REGION``, ``LAMBDA_TASK_ROOT``, ...); the node's endpoints
(``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SAGEMAKER``, ...) so boto3 in the
function talks to Headwater unchanged; and a session of the function's role
(``sts:AssumeRole``), never the node's own keys, variables or AWS files.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from services.aws.sts import JobCredentials
from services.core.exceptions import JobFailed
from services.functions.environment import BOOTSTRAP, EnvironmentSpec, Invocation, InvocationRecord
from services.functions.exceptions import ResourceConflictException, ServiceException, TooManyRequestsException
from services.functions.metrics import FunctionMetrics
from services.functions.models import VersionConfig
from services.functions.names import FunctionRef
from services.functions.pool import EnvironmentPool
from services.functions.runtime_api import MAX_RESPONSE_BYTES
from services.functions.service import FunctionsService, log_group

log = logging.getLogger(__name__)

#: Lambda's ``LogType: Tail``: the last 4 KB of the invocation's log.
TAIL_BYTES = 4096
# A role session is used for new environments until this long before it expires.
_CREDENTIALS_MARGIN_SECONDS = 300
_SESSION_SECONDS = 3600


@dataclass
class InvokeResult:
    """What ``Invoke`` answers for a ``RequestResponse`` invocation."""

    request_id: str
    payload: bytes
    function_error: str | None  # "Unhandled" when the function failed
    executed_version: str
    record: InvocationRecord

    def log_result(self) -> str:
        """``X-Amz-Log-Result``: the last 4 KB of the invocation's log, base64."""
        text = "".join(line + "\n" for line in self.record.log_lines).encode()
        return base64.b64encode(text[-TAIL_BYTES:]).decode()


class Invoker:
    """Runs invocations of the functions of a :class:`FunctionsService` in an :class:`EnvironmentPool`."""

    def __init__(self, functions: FunctionsService, pool: EnvironmentPool, credentials: JobCredentials | None, *,
                 region: str, base_env: dict[str, str], fallback_credentials: dict[str, str] | None = None,
                 metrics: FunctionMetrics | None = None) -> None:
        self.functions = functions
        self.pool = pool
        self.credentials = credentials
        self.region = region
        # The node's endpoints (AWS_ENDPOINT_URL*): set once the node's servers listen.
        self.base_env = base_env
        self.fallback_credentials = fallback_credentials  # an emulator's: used when the role cannot be assumed
        # AWS/Lambda's CloudWatch metrics; counted in memory, put in batches by its own loop.
        self.metrics = metrics or FunctionMetrics(None)
        self.stats: dict[str, Counter[str]] = {}
        self.durations: dict[str, list[float]] = {}
        self._sessions: dict[str, tuple[float, dict[str, str]]] = {}

    async def invoke(self, ref: FunctionRef, payload: bytes, *, client_context: str | None = None,
                     request_id: str | None = None) -> InvokeResult:
        """Run one invocation and wait for its result (throttled past the function's concurrency)."""
        doc, config, _alias = await self.functions.resolve(ref, cached=True)
        name = doc.function_name
        stats = self.stats.setdefault(name, Counter())
        if config.state == "Failed":
            raise ResourceConflictException(f"The operation cannot be performed at this time. The function is "
                                            f"currently in the following state: Failed ({config.state_reason})")
        try:
            self.pool.admit(name, doc.reserved_concurrency)
        except TooManyRequestsException:
            stats["throttles"] += 1
            self.metrics.throttled(name)
            raise
        stats["invocations"] += 1
        self.metrics.invoked(name, self.pool.in_flight[name])
        try:
            code_dir = await self.functions.ensure_code(config)
            spec = EnvironmentSpec(function_name=name, version=config.version, revision_id=config.revision_id,
                                   code_sha256=config.code_sha256, code_dir=code_dir, handler=config.handler,
                                   runtime=config.runtime, memory_mb=config.memory_size, timeout_s=config.timeout,
                                   log_group=log_group(name))
            invocation = Invocation(request_id or str(uuid.uuid4()), payload,
                                    self.functions.arn(name, ref.qualifier), client_context)

            async def variables() -> dict[str, str]:
                return await self._variables(config, code_dir)

            record = await self.pool.run(spec, invocation, variables)
        except Exception:
            self.metrics.finished(name, 0.0, True)  # an invocation that could not run is an error, as on Lambda
            raise
        finally:
            self.pool.release(name, doc.reserved_concurrency)
        out = record.payload
        if not record.failed and len(out) > MAX_RESPONSE_BYTES:
            out = json.dumps({"errorMessage": f"Response payload size ({len(out)} bytes) exceeded maximum allowed "
                                              f"payload size ({MAX_RESPONSE_BYTES} bytes).",
                              "errorType": "Function.ResponseSizeTooLarge"}).encode()
            record.error_type = "Function.ResponseSizeTooLarge"
        if record.failed:
            stats["errors"] += 1
        self.metrics.finished(name, record.duration_ms, record.failed)
        durations = self.durations.setdefault(name, [])
        durations.append(record.duration_ms)
        del durations[:-1000]  # the recent ones, for p50 / p99
        return InvokeResult(invocation.request_id, out, "Unhandled" if record.failed else None, config.version,
                            record)

    async def _variables(self, config: VersionConfig, code_dir: Path) -> dict[str, str]:
        python_bin = os.path.dirname(sys.executable)
        env: dict[str, str] = {
            **self.base_env,
            **config.variables,
            "_HANDLER": config.handler,
            "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": config.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group(config.function_name),
            "LAMBDA_TASK_ROOT": str(code_dir), "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            "TZ": ":UTC", "LANG": "en_US.UTF-8", "PYTHONUNBUFFERED": "1",
            "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
            # The node's own AWS files are not the function's: its credentials are its role's, below.
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        env.update(await self._role_session(config))
        return env

    async def _role_session(self, config: VersionConfig) -> dict[str, str]:
        cached = self._sessions.get(config.role)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        if self.credentials is None:
            return dict(self.fallback_credentials or {})
        try:
            session = await self.credentials.environment(config.role, config.function_name, _SESSION_SECONDS)
        except JobFailed as err:
            if self.fallback_credentials is None:
                raise ServiceException(f"Lambda could not assume the function's role: {err}") from err
            log.warning("function %s: %s; it gets the emulator's credentials", config.function_name, err)
            return dict(self.fallback_credentials)
        self._sessions[config.role] = (time.monotonic() + _SESSION_SECONDS - _CREDENTIALS_MARGIN_SECONDS, session)
        return session
