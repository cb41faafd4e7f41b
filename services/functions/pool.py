"""Execution environments kept warm and reused, scaled out to the concurrency limit, reaped when idle.

An invocation is admitted first (:meth:`EnvironmentPool.admit`): a function
with reserved concurrency runs at most that many invocations at once, and
the functions without share the node's ``function_concurrency``; past
either, Lambda's ``TooManyRequestsException``. An admitted invocation takes
an idle environment of its function version and revision, or starts one:
so there are never more environments busy than invocations admitted.
Environments idle longer than ``idle_seconds`` are stopped, and so are
those of a function whose code or configuration changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from services.aws.logs import LogsAdapter
from services.functions.environment import EnvironmentSpec, ExecutionEnvironment, Invocation, InvocationRecord
from services.functions.exceptions import TooManyRequestsException
from services.functions.runtime_api import RuntimeApiServer

log = logging.getLogger(__name__)

Variables = Callable[[], Awaitable[dict[str, str]]]


class EnvironmentPool:
    """The node's execution environments, by function version."""

    def __init__(self, api: RuntimeApiServer, logs: LogsAdapter, log_dir: Path, *, max_concurrency: int,
                 idle_seconds: float) -> None:
        self.api = api
        self.logs = logs
        self.log_dir = log_dir
        self.max_concurrency = max_concurrency
        self.idle_seconds = idle_seconds
        self.in_flight: Counter[str] = Counter()
        self._unreserved = 0
        self._envs: dict[tuple[str, str, str, str], list[ExecutionEnvironment]] = {}
        self.started = 0  # environments started, for figures and tests

    # ------------------------------------------------------------------ admission

    def admit(self, name: str, reserved: int | None) -> None:
        """Count an invocation of ``name`` in, or refuse it as Lambda throttles."""
        if reserved is not None:
            if self.in_flight[name] >= reserved:
                raise TooManyRequestsException("Rate Exceeded.", "ReservedFunctionConcurrentInvocationLimitExceeded")
        elif self._unreserved >= self.max_concurrency:
            raise TooManyRequestsException("Rate Exceeded.", "ConcurrentInvocationLimitExceeded")
        self.in_flight[name] += 1
        if reserved is None:
            self._unreserved += 1

    def release(self, name: str, reserved: int | None) -> None:
        """Count an admitted invocation out."""
        self.in_flight[name] -= 1
        if self.in_flight[name] <= 0:
            del self.in_flight[name]
        if reserved is None:
            self._unreserved -= 1

    # ------------------------------------------------------------------ running

    async def run(self, spec: EnvironmentSpec, invocation: Invocation, variables: Variables) -> InvocationRecord:
        """Run ``invocation`` in a warm environment of ``spec``, or in a new one."""
        env = self._take_idle(spec.key)
        if env is None:
            env = ExecutionEnvironment(spec, self.api, self.logs, self.log_dir)
            env.state = "busy"
            self._envs.setdefault(spec.key, []).append(env)
            self.started += 1
            try:
                await env.start(await variables())
                init_error = await env.wait_ready()
            except BaseException:
                await self._discard(env)
                raise
            if init_error is not None:
                try:
                    return await env.invoke(invocation, init_error)
                finally:
                    await self._discard(env)
        try:
            record = await env.invoke(invocation)
        except BaseException:
            await self._discard(env)
            raise
        if not env.alive or env.retired:
            await self._discard(env)
        return record

    def _take_idle(self, key: tuple[str, str, str, str]) -> ExecutionEnvironment | None:
        # Taken and marked busy without an await in between: two invocations never share one.
        for env in reversed(self._envs.get(key, [])):  # the most recently used: its caches are warmest
            if env.state == "idle" and env.alive:
                env.state = "busy"
                return env
        return None

    async def _discard(self, env: ExecutionEnvironment) -> None:
        envs = self._envs.get(env.spec.key, [])
        if env in envs:
            envs.remove(env)
        if not envs:
            self._envs.pop(env.spec.key, None)
        await env.stop()

    # ------------------------------------------------------------------ retiring

    def environments(self, name: str | None = None) -> list[ExecutionEnvironment]:
        """The environments (of function ``name``)."""
        return [e for key, envs in self._envs.items() if name is None or key[0] == name for e in envs]

    async def retire(self, name: str) -> None:
        """Stop ``name``'s idle environments now and its busy ones after their invocation."""
        idle = []
        for env in self.environments(name):
            env.retired = True
            if env.state == "idle":
                idle.append(env)
        await asyncio.gather(*(self._discard(e) for e in idle))

    async def reap(self) -> int:
        """Stop environments idle for longer than ``idle_seconds``; how many were stopped."""
        now = time.monotonic()
        idle = [e for e in self.environments() if e.state == "idle" and now - e.last_used >= self.idle_seconds]
        idle += [e for e in self.environments() if e.state == "dead"]
        await asyncio.gather(*(self._discard(e) for e in idle))
        return len(idle)

    async def run_reaper(self, stop: asyncio.Event) -> None:
        """Reap idle environments until ``stop`` is set."""
        period = min(max(self.idle_seconds / 2, 0.5), 30)
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), period)
            try:
                await self.reap()
            except Exception:  # noqa: BLE001 - keep reaping
                log.exception("could not reap idle execution environments")

    async def close(self) -> None:
        """Stop every environment."""
        envs = self.environments()
        self._envs.clear()
        await asyncio.gather(*(e.stop() for e in envs), return_exceptions=True)
