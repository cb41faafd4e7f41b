"""Ctrl-C for the long-running commands (``headwater up``, ``headwater worker``).

The first SIGINT or SIGTERM asks for a stop: running jobs are handed back to
the queue, servers close, buffers are flushed, all within about
``stop_grace_seconds``. A second one exits at once, as a user pressing
Ctrl-C again expects: the kernel ends the process runner's containers with
the process (they die with their parent); nothing else is flushed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable

EXIT_ON_SECOND_SIGNAL = 130  # a shell's code for a process ended by SIGINT


def stop_on_signals(stop: asyncio.Event, what: str,
                    exit_now: Callable[[int], object] = os._exit) -> Callable[[], None]:
    """Set ``stop`` on the first SIGINT/SIGTERM and exit on the second; returns the handler installed."""

    def on_signal() -> None:
        if stop.is_set():
            print(f"{what}: stopping now, without handing running jobs back.", file=sys.stderr, flush=True)
            exit_now(EXIT_ON_SECOND_SIGNAL)
            return
        print(f"{what}: stopping; running jobs are handed back to the queue (Ctrl-C again to stop at once).",
              file=sys.stderr, flush=True)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    return on_signal
