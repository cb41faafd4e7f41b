"""The wrapper every algorithm's ``train`` entrypoint runs inside.

It turns the outcome of a training function into what SageMaker expects of a
container: exit status 0 on success; on failure a one-paragraph explanation in
``<base>/output/failure`` (the job's FailureReason), the full traceback on
stderr (the job's logs) and a non-zero exit status.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from containers.common import params
from containers.common.environment import Environment
from containers.common.errors import CustomerError

EXIT_SUCCESS = 0
EXIT_FAILURE = 1
# What a shell reports for a process stopped by Ctrl-C; the job was stopped,
# it did not fail, so no failure file is written.
EXIT_INTERRUPTED = 130

# How many traceback lines an unexpected error's failure message carries: enough
# to locate the fault, short enough for a FailureReason.
TRACEBACK_LINES = 6

TrainFn = Callable[[Environment], object]


def stream_logs() -> None:
    """Make stdout and stderr line-buffered so logs reach the job's log stream live.

    Without a TTY Python block-buffers stdout, and the per-round evaluation
    lines (which metric regexes scrape) would arrive only at exit.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)


def failure_message(exc: BaseException) -> str:
    """The FailureReason text for ``exc``.

    A ``CustomerError`` message is the user's to read and goes out verbatim;
    anything else is prefixed with its type and the innermost traceback lines.
    """
    if isinstance(exc, CustomerError):
        return str(exc)
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    tail = "".join(lines).rstrip().splitlines()[-TRACEBACK_LINES:]
    return f"Algorithm error: {type(exc).__name__}: {exc}\n" + "\n".join(tail)


def write_failure(message: str, path: Path | None = None) -> None:
    """Write ``message`` to the failure file, creating its directory if needed."""
    target = path or params.failure_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(message.rstrip() + "\n", encoding="utf-8")
    except OSError as exc:  # the logs still carry the error; do not mask it
        print(f"Could not write failure file {target}: {exc}", file=sys.stderr, flush=True)


def _clear_stale_failure() -> None:
    """Remove a failure file left by an earlier run in a reused directory."""
    try:
        params.failure_path().unlink(missing_ok=True)
    except OSError:
        pass


def run(train_fn: TrainFn) -> NoReturn:
    """Read the environment, call ``train_fn(env)`` and exit with its outcome.

    Exits 0 when ``train_fn`` returns; otherwise writes the failure file, logs
    the traceback to stderr and exits 1. Never returns.
    """
    code = execute(train_fn)
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written and flushed; skip interpreter teardown, which takes
    # about a second with numerical libraries loaded and only delays the job.
    os._exit(code)


def execute(train_fn: TrainFn) -> int:
    """Like ``run`` but return the exit status instead of exiting (for embedding)."""
    stream_logs()
    _clear_stale_failure()
    try:
        env = Environment.read()
        train_fn(env)
    except KeyboardInterrupt:
        print("Training interrupted.", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        # A deliberate sys.exit() inside training: honour it, but a non-zero
        # status without a failure file would leave the user guessing.
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_FAILURE)
        if code != EXIT_SUCCESS:
            detail = "" if isinstance(exc.code, int) else f": {exc.code}"
            write_failure(f"Algorithm error: training exited with status {code}{detail}")
        return code
    except Exception as exc:  # noqa: BLE001 - every failure must be reported
        traceback.print_exc(file=sys.stderr)
        message = failure_message(exc)
        write_failure(message)
        print(f"Training failed: {message.splitlines()[0]}", file=sys.stderr, flush=True)
        return EXIT_FAILURE
    sys.stdout.flush()
    print("Training succeeded.", flush=True)
    return EXIT_SUCCESS
