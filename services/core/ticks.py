"""The node's clocks: a step run every few seconds until the node stops, or only when there is work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_every(tick: float, stop: asyncio.Event, step: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``step`` now and then every ``tick`` seconds until ``stop`` is set.

    A step that fails is logged (as ``what``) and the next tick tries again: a clock never stops on an error.
    """
    while not stop.is_set():
        try:
            await step()
        except Exception:  # noqa: BLE001 - the next tick tries again
            log.exception("%s tick failed", what)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), tick)


async def rest(stop: asyncio.Event, *changes: asyncio.Event, timeout: float | None) -> None:
    """Wait until ``stop`` or one of ``changes`` is set, or ``timeout`` seconds (``None``: no timer at all).

    A clock with nothing to do rests here rather than on a short timer: what gives it work sets a change.
    """
    waits = [asyncio.ensure_future(event.wait()) for event in (stop, *changes)]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
