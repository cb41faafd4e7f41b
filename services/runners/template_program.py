"""A warm template: an interpreter that has imported an image's heavy modules and forks job hosts on request.

This file is the program the process runner's warm pool (:mod:`services.runners.warm_pool`) starts with
``python -c <this source> <control fd> <preloads JSON> <probe>`` on the image's interpreter. It uses the
standard library only and imports nothing of Headwater's: it runs on a framework image's own environment.

The template never runs a job itself. Each request forks a child from the clean template, and the child
becomes a fresh ``python -m <module> <command>`` process: its own session, the job's working directory,
exactly the job's environment, standard output and error on the pipe the node sent, and ``sys.argv``,
``sys.path[0]`` and ``__main__`` as ``-m`` makes them. Nothing a job does reaches the template or a later
job: each is its own forked copy of the template, never a reused process.

Protocol on the control socket (``SOCK_SEQPACKET``, one JSON object a message):

- template -> node, once: ``{"ready": true}``, or ``{"ready": false, "reason": ...}`` and it exits;
- node -> template: ``{"id", "module", "argv", "cwd", "env"}`` with the output pipe's write end attached;
- template -> node: ``{"started": id, "pid": n}`` (or ``{"started": id, "error": ...}``), and later
  ``{"exited": pid, "code": n}`` (negative: killed by that signal).

A closed control socket means the node is done with the template: it exits once its children have.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import threading

_PR_SET_PDEATHSIG = 1
_PROBE_SECONDS = 30.0


def _die_with_parent() -> None:
    """SIGKILL when the parent dies: a template with the node, a job's host with its template."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _send(sock: socket.socket, message: dict[str, object]) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:  # the node is gone or done: nothing to tell
        pass


def _preload(modules: list[str]) -> str | None:
    """Import ``modules`` (``-name``: block it, as the image's entrypoint does); why not, or ``None``."""
    for name in modules:
        if name.startswith("-"):
            sys.modules.setdefault(name[1:], None)  # type: ignore[assignment]
            continue
        try:
            importlib.import_module(name)
        except ImportError:  # not in this image: its jobs import it themselves, or not at all
            continue
        except Exception as err:  # noqa: BLE001 - reported to the node
            return f"importing {name} failed: {type(err).__name__}: {err}"
    # A Python thread started at import would be missing in every fork, and a lock it held stays held there.
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if others:
        return f"its imports start Python threads ({', '.join(others)}), which a fork does not carry"
    return None


def _probe(code: str) -> str | None:
    """Run ``code`` in a forked child (native thread pools after a fork: BLAS, OpenMP); why it failed."""
    if not code:
        return None
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            _die_with_parent()
            exec(compile(code, "<probe>", "exec"), {})  # noqa: S102 - the runner's own probe code
            os._exit(0)
        except BaseException:  # noqa: BLE001 - any failure is the probe's answer
            os._exit(1)
    waited = 0.0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code_ = os.waitstatus_to_exitcode(status)
            return None if code_ == 0 else f"a forked child's use of its modules ended with {code_}"
        if waited >= _PROBE_SECONDS:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return f"a forked child's use of its modules hung for {_PROBE_SECONDS:.0f} s"
        signal.sigtimedwait([signal.SIGCHLD], 0.01)
        waited += 0.01


def _become_job(request: dict[str, object], out: int, closing: list[int]) -> None:
    """In the forked child: make this process the fresh host ``request`` describes."""
    os.setsid()
    _die_with_parent()
    if os.getppid() == 1:  # the template died before the line above: nobody would reap or stop us
        os._exit(137)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for fd in closing:
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)
    cwd = str(request["cwd"])
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
    # Unseeded generators must not repeat among siblings (Python's `random` reseeds itself at fork).
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()  # type: ignore[attr-defined]
    sys.argv = ["-m", *[str(a) for a in list(request["argv"])]]  # type: ignore[call-overload]
    sys.path[0] = cwd  # what `python -m` puts first


def serve(control: socket.socket, preloads: list[str], probe: str) -> dict[str, object]:
    """Preload, report, then fork a child per request; returns only in a child, with its request."""
    reason = _preload(preloads) or _probe(probe)
    _send(control, {"ready": reason is None, **({"reason": reason} if reason else {})})
    if reason:
        sys.exit(0)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wake-up fd hears of exits
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    children: set[int] = set()
    open_ = True
    while open_ or children:
        for key, _ in selector.select():
            if key.fileobj == wake_r:
                os.read(wake_r, 512)
                continue
            try:
                data, fds, _flags, _addr = socket.recv_fds(control, 1 << 20, 4)
            except OSError:
                data, fds = b"", []
            if not data:
                open_ = False
                selector.unregister(control)
                continue
            request = json.loads(data)
            if not fds:
                _send(control, {"started": request["id"], "error": "no output pipe came with the request"})
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                selector.close()
                _become_job(request, fds[0], [control.fileno(), wake_r, wake_w, *fds[1:]])
                control.detach()
                return request
            for fd in fds:
                os.close(fd)
            children.add(pid)
            _send(control, {"started": request["id"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            children.discard(pid)
            _send(control, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})
    sys.exit(0)


def main() -> None:
    """Run as the template; in a forked child, run the job's module as ``python -m`` would."""
    _die_with_parent()
    control = socket.socket(fileno=int(sys.argv[1]))
    request = serve(control, json.loads(sys.argv[2]), sys.argv[3])
    import runpy

    # The child's __main__ is the job's module alone: nothing of this program stays in its namespace.
    namespace = sys.modules["__main__"].__dict__
    for name in [n for n in namespace if n != "__builtins__"]:
        del namespace[name]
    # runpy's `-m` entry: the module runs as __main__ in the real __main__ module, with sys.argv[0] its path.
    runpy._run_module_as_main(str(request["module"]), alter_argv=True)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
