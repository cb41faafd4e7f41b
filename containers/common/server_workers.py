"""Several serving processes on one port, as SageMaker's model servers run their workers.

SageMaker's algorithm containers serve with gunicorn (the XGBoost container:
one worker per CPU, each predicting on one thread) and the inference
toolkit's model server honours ``MODEL_SERVER_WORKERS``. A Python process
predicts, parses and encodes on one core at a time (the GIL), so a
container on a multi-core instance answers concurrent requests (batch
transform's ``MaxConcurrentTransforms``, several clients of an endpoint) in
parallel only with several processes.

The parent binds the port, forks the other workers before any of them
loads the model or starts an event loop (nothing to inherit but the
listening socket), and serves too. The kernel hands each new connection to
whichever worker accepts it. ``SIGTERM`` to the parent (what the platform
sends) reaches every worker; each drains its own requests. A worker that
outlives a parent killed outright is ended by the kernel
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import sys
from collections.abc import Callable

WORKERS_ENV = "MODEL_SERVER_WORKERS"
_PR_SET_PDEATHSIG = 1


def worker_count(default: int = 1) -> int:
    """``MODEL_SERVER_WORKERS`` when set (at least 1), else ``default``."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if not raw:
        return max(1, default)
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{WORKERS_ENV} must be a whole number of workers, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{WORKERS_ENV} must be at least 1, not {value}")
    return value


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket every worker accepts from."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _die_with_parent() -> None:
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:  # not glibc/musl Linux: the parent's SIGTERM still reaches the worker
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run_workers(count: int, sock: socket.socket,
                serve_one: Callable[[socket.socket, Callable[[], None]], int]) -> int:
    """Serve ``sock`` from ``count`` processes; the exit status is the worst of theirs.

    ``serve_one(sock, stopping)`` runs one worker to its end and returns its
    exit status; it calls ``stopping()`` when told to stop, which in the
    parent tells the other workers at once (so all drain together).
    """
    children: list[int] = []

    def stop_children() -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    for _ in range(count - 1):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            code = 1
            try:
                code = serve_one(sock, lambda: None)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)  # never return into the parent's stack
        children.append(pid)

    def stop_while_loading(_signum: int, _frame: object) -> None:
        # Until the parent's server installs its own handlers (after its model loads).
        stop_children()
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop_while_loading) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = serve_one(sock, stop_children)
    except KeyboardInterrupt:
        code = 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stop_children()  # the parent ended (a stop, or a model that failed to load): so do the others
    for child in children:
        _, status = os.waitpid(child, 0)
        code = max(code, os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 0)
    return code
