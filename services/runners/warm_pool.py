"""The process runner's pool of warm templates: a job's host forked from an interpreter that has imported
its image's heavy modules, instead of a fresh interpreter importing them again.

For each image that has run recently (an interpreter, the container's module, and the environment that
matters when an interpreter starts) one template waits (:mod:`services.runners.template_program`). The
first job of an image starts fresh and has the template started beside it; the next ones are forked from
it. A forked host is a new process, never a used one: its own session, the job's working directory and
environment, its own output pipe, no module state of an earlier job (each fork is a copy of the clean
template).

Not every image can be forked after its imports. A template refuses to serve (and the image's jobs start
fresh, as before) when its imports start Python threads, or when a forked child cannot use the preloaded
libraries (a probe per image exercises their native thread pools in a fork: BLAS, OpenMP, torch's).

Bounds: templates' resident memory together stays within ``memory_mb`` (the least recently used idle one
goes first; one that alone exceeds it is not kept), and a template unused for ``idle_seconds`` is stopped.
A template whose process died is dropped and replaced, never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import signal
import socket
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.runners.base import RunningContainer
from services.runners.child import STREAM_LIMIT, die_with_parent, read_lines

log = logging.getLogger(__name__)

_PROGRAM = (Path(__file__).with_name("template_program.py")).read_text()
_READY_SECONDS = 120.0  # importing torch on a slow disk

# The variables an interpreter or a library reads as it starts or imports (sys.path, the locale, the time
# zone, native thread pools' sizes, the loader's paths): a template is started with the job's values of
# these, and serves only jobs with the same values. The job's other variables reach its host at the fork.
_STARTUP = re.compile(r"^(PYTHON\w*|PATH|HOME|LD_\w+|LC_\w+|LANG|LANGUAGE|TZ|TMPDIR|TEMP|TMP|XDG_\w+|"
                      r"\w*_NUM_THREADS|OMP_\w+|GOMP_\w+|KMP_\w+|MKL_\w+|OPENBLAS_\w+|MALLOC_\w+|"
                      r"CUDA_\w+|NVIDIA_\w+|TORCH_\w+|XGBOOST_\w+)$")

# What a template of an image imports ("-name": blocked, as the image's entrypoint blocks it), and the code a
# forked child runs to show those libraries work after a fork. Images not named get the scientific base.
_BASE = ("numpy", "scipy", "scipy.sparse")
PRELOADS: dict[str, tuple[str, ...]] = {
    # The built-in XGBoost container blocks scikit-learn (containers/xgboost/__main__.py): so does its template.
    "xgboost": ("-sklearn", *_BASE, "xgboost"),
    "xgboost_framework": (*_BASE, "pandas", "sklearn", "xgboost"),
    "sklearn": (*_BASE, "pandas", "sklearn"),
    "pytorch": (*_BASE, "torch"),
}
_PROBES = {
    "numpy": "import numpy as np\nnp.ones((256, 256)) @ np.ones((256, 256))\n",
    "xgboost": ("import numpy as np, xgboost as xgb\n"
                "d = xgb.DMatrix(np.arange(64.0).reshape(32, 2), label=np.arange(32.0) % 2)\n"
                "xgb.train({'nthread': 2, 'max_depth': 2}, d, 2)\n"),
    "torch": "import torch\ntorch.ones(256, 256) @ torch.ones(256, 256)\n",
}


def probe_for(preloads: tuple[str, ...]) -> str:
    """The probe code for ``preloads``: each probed library among them, used once."""
    return "".join(code for name, code in _PROBES.items() if name in preloads)


def startup_env(env: Mapping[str, str]) -> dict[str, str]:
    """The part of a host's ``env`` an interpreter and its imports read as they start."""
    return {k: v for k, v in env.items() if _STARTUP.match(k)}


def resident_bytes(pid: int) -> int:
    """The resident memory of process ``pid`` (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


TemplateKey = tuple[str, str, tuple[tuple[str, str], ...], tuple[str, ...]]


class ForkedContainer(RunningContainer):
    """A job's host forked from a template: its exit comes from the template, which is its parent."""

    def __init__(self, pid: int, template_pid: int, output: asyncio.StreamReader, exited: asyncio.Future[int]) -> None:
        self.pid = pid
        self.template_pid = template_pid
        self._output = output
        self._exited = exited

    @property
    def ident(self) -> str:
        return f"pid {self.pid}, forked from warm template pid {self.template_pid}"

    async def lines(self) -> AsyncIterator[str]:
        async for line in read_lines(self._output, STREAM_LIMIT):
            yield line

    async def wait(self) -> int:
        code = await asyncio.shield(self._exited)
        # As a fresh process's end: what it left running in its group goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        return code

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._exited.done():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)  # the host made its own session: its pgid is its pid

    async def terminate(self) -> None:
        self._signal_group(signal.SIGTERM)

    async def kill(self) -> None:
        self._signal_group(signal.SIGKILL)


@dataclass(eq=False)
class Template:
    """One warm template process and its control socket."""

    key: TemplateKey
    proc: asyncio.subprocess.Process
    control: socket.socket
    ready: asyncio.Future[str | None]  # None: serving; else why it will not
    started: dict[int, asyncio.Future[int]] = field(default_factory=dict)  # request id -> child pid
    running: dict[int, asyncio.Future[int]] = field(default_factory=dict)  # child pid -> exit code
    last_used: float = field(default_factory=time.monotonic)
    idle_timer: asyncio.TimerHandle | None = None
    reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """Whether its process runs (a dead template is never used)."""
        return self.proc.returncode is None and self.control.fileno() >= 0

    @property
    def serving(self) -> bool:
        """Ready, alive, and willing to fork."""
        return self.alive and self.ready.done() and self.ready.result() is None


class TemplatePool:
    """Warm templates by :data:`TemplateKey`, bounded by ``memory_mb`` and ``idle_seconds``."""

    def __init__(self, memory_mb: int = 2048, idle_seconds: float = 600.0,
                 preloads: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.memory_bytes = memory_mb << 20
        self.idle_seconds = idle_seconds
        self._preloads = {**PRELOADS, **(preloads or {})}
        self.templates: dict[TemplateKey, Template] = {}
        self.refused: dict[TemplateKey, str] = {}  # keys that cannot be served, and why (not retried)
        self._launches: dict[TemplateKey, asyncio.Task[None]] = {}  # templates starting: one at a time a key
        self.forks = 0  # hosts forked, for figures and tests
        self._ids = itertools.count(1)

    @property
    def enabled(self) -> bool:
        """Whether the pool keeps any template (``memory_mb`` 0 turns it off)."""
        return self.memory_bytes > 0

    def key(self, python: str, image_name: str, module: str, env: Mapping[str, str]) -> TemplateKey:
        """The template that may serve a host of container ``image_name`` (its ``module``) on ``python`` with
        environment ``env``."""
        preloads = self._preloads.get(image_name, _BASE)
        return python, module, tuple(sorted(startup_env(env).items())), preloads

    async def prepare(self, key: TemplateKey) -> str | None:
        """Have a template of ``key`` ready (started now if none is): ``None`` once it serves, else why not."""
        if not self.enabled:
            return "the warm pool is off"
        template = self.templates.get(key)
        if key not in self._launches and (template is None or not template.alive):
            if template is not None:
                await self._drop(template)
            self._start(key)
        if (launch := self._launches.get(key)) is not None:
            await asyncio.gather(launch, return_exceptions=True)
        template = self.templates.get(key)
        if template is not None and template.serving:
            return None
        return self.refused.get(key, "no template was kept")

    # ------------------------------------------------------------------ starting hosts

    async def fork(self, key: TemplateKey, argv: list[str], cwd: Path, env: Mapping[str, str]) -> ForkedContainer | None:
        """A host of ``key`` running ``python -m <module> <argv>`` in ``cwd`` with exactly ``env``, forked from a
        ready template; ``None`` when there is none yet (one is started for the next host, where allowed)."""
        if not self.enabled or key in self.refused or key in self._launches:
            return None
        template = self.templates.get(key)
        if template is not None and not template.alive:
            await self._drop(template)  # died: replaced below, never used
            template = None
        if template is None:
            self._start(key)
            return None
        if not template.serving:
            return None  # still importing (the host starts fresh), or refused (dropped by then)
        try:
            return await self._fork(template, argv, cwd, env)
        except OSError as err:
            log.warning("warm template pid %s for %s could not fork (%s); replacing it", template.proc.pid,
                        key[1], err)
            await self._drop(template)
            self._start(key)
            return None

    async def _fork(self, template: Template, argv: list[str], cwd: Path, env: Mapping[str, str]) -> ForkedContainer:
        loop = asyncio.get_running_loop()
        request = next(self._ids)
        read_fd, write_fd = os.pipe()
        try:
            started = template.started[request] = loop.create_future()
            message = {"id": request, "module": template.key[1], "argv": argv, "cwd": str(cwd), "env": dict(env)}
            socket.send_fds(template.control, [json.dumps(message).encode()], [write_fd])
        except BaseException:
            template.started.pop(request, None)
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        try:
            pid = await asyncio.wait_for(started, timeout=30)
        except BaseException:
            os.close(read_fd)
            raise
        if template.idle_timer is not None:
            template.idle_timer.cancel()
            template.idle_timer = None
        reader = asyncio.StreamReader(limit=STREAM_LIMIT, loop=loop)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                                     os.fdopen(read_fd, "rb", buffering=0))
        self.forks += 1
        return ForkedContainer(pid, template.proc.pid, reader, template.running[pid])

    # ------------------------------------------------------------------ templates

    def _start(self, key: TemplateKey) -> None:
        """Start a template for ``key`` in the background."""
        task = self._launches[key] = asyncio.get_running_loop().create_task(self._launch(key))
        task.add_done_callback(lambda _: self._launches.pop(key, None))

    async def _launch(self, key: TemplateKey) -> None:
        python, module, startup, preloads = key
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = await asyncio.create_subprocess_exec(
                python, "-c", _PROGRAM, str(theirs.fileno()), json.dumps(list(preloads)), probe_for(preloads),
                env={**dict(startup), "PYTHONUNBUFFERED": "1"}, pass_fds=(theirs.fileno(),), cwd="/",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
        except OSError as err:
            ours.close()
            self.refused[key] = f"could not start: {err}"
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        loop = asyncio.get_running_loop()
        template = Template(key, proc, ours, loop.create_future())
        self.templates[key] = template
        template.reader = loop.create_task(self._read(template))
        try:
            reason = await asyncio.wait_for(asyncio.shield(template.ready), timeout=_READY_SECONDS)
        except asyncio.TimeoutError:
            reason = f"not ready after {_READY_SECONDS:.0f} s"
        except asyncio.CancelledError:  # the pool is closing
            await self._drop(template)
            raise
        if reason is None and (size := resident_bytes(proc.pid)) > self.memory_bytes:
            reason = f"its {size >> 20} MiB exceed the warm pool's {self.memory_bytes >> 20} MiB"
        if reason is not None:  # this image cannot be served by a fork: its hosts start fresh
            log.info("image %s runs without a warm template: %s", module, reason)
            self.refused[key] = reason
            await self._drop(template)
            return
        if (reason := await self._fit(template)) is not None:  # tried again by a later host
            log.info("no warm template kept for %s: %s", module, reason)
            await self._drop(template)
            return
        self._rest(template)

    async def _fit(self, template: Template) -> str | None:
        """Keep the pool within its memory: evict idle templates, least recently used first; why the new one
        cannot be kept, or ``None``."""
        size = resident_bytes(template.proc.pid)
        others = sorted((t for t in self.templates.values() if t is not template),
                        key=lambda t: t.last_used)
        total = size + sum(resident_bytes(t.proc.pid) for t in others)
        for old in others:
            if total <= self.memory_bytes:
                break
            if not old.running:
                total -= resident_bytes(old.proc.pid)
                await self._drop(old)
        if total > self.memory_bytes:
            return f"the warm pool's {self.memory_bytes >> 20} MiB are held by templates with running hosts"
        return None

    async def _read(self, template: Template) -> None:
        """The template's messages, until its control socket closes (it exited)."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await loop.sock_recv(template.control, 1 << 16)
                if not data:
                    break
                message = json.loads(data)
                if "ready" in message and not template.ready.done():
                    template.ready.set_result(None if message["ready"] else str(message.get("reason")))
                elif "started" in message:
                    future = template.started.pop(message["started"], None)
                    if "pid" in message:
                        template.running[message["pid"]] = loop.create_future()
                    if future is not None and not future.done():
                        if "pid" in message:
                            future.set_result(message["pid"])
                        else:
                            future.set_exception(OSError(message.get("error", "fork refused")))
                elif "exited" in message:
                    exited = template.running.pop(message["exited"], None)
                    if exited is not None and not exited.done():
                        exited.set_result(int(message["code"]))
                    template.last_used = time.monotonic()
                    if not template.running:
                        self._rest(template)
        except (OSError, ValueError):
            pass
        finally:
            self._ended(template)

    def _ended(self, template: Template) -> None:
        """The template is gone: its hosts died with it (they get SIGKILL when their parent dies)."""
        with contextlib.suppress(OSError):
            template.control.close()
        if not template.ready.done():
            template.ready.set_result("the template exited before it was ready")
        for started in template.started.values():
            if not started.done():
                started.set_exception(OSError("the warm template exited"))
        for exited in template.running.values():  # its hosts got SIGKILL as it died
            if not exited.done():
                exited.set_result(-signal.SIGKILL)
        template.started.clear()
        template.running.clear()
        if self.templates.get(template.key) is template:
            del self.templates[template.key]

    def _rest(self, template: Template) -> None:
        """Stop ``template`` once it has been idle for ``idle_seconds`` (a timer, not a polling loop)."""
        if template.idle_timer is not None:
            template.idle_timer.cancel()
        template.idle_timer = asyncio.get_running_loop().call_later(
            self.idle_seconds, lambda: asyncio.ensure_future(self._idle(template)))

    async def _idle(self, template: Template) -> None:
        if not template.running and time.monotonic() - template.last_used >= self.idle_seconds * 0.99:
            await self._drop(template)

    async def _drop(self, template: Template) -> None:
        """Stop ``template``: closing its control socket ends it once its hosts have (now, when it has none)."""
        if self.templates.get(template.key) is template:
            del self.templates[template.key]
        if template.idle_timer is not None:
            template.idle_timer.cancel()
        with contextlib.suppress(OSError):
            template.control.shutdown(socket.SHUT_WR)
        if not template.running:
            with contextlib.suppress(ProcessLookupError):
                template.proc.kill()
            await template.proc.wait()

    async def close(self) -> None:
        """Stop every template (their running hosts end with them)."""
        launches = list(self._launches.values())
        for task in launches:
            task.cancel()
        await asyncio.gather(*launches, return_exceptions=True)
        for template in list(self.templates.values()):
            template.running.clear()
            await self._drop(template)
            if template.reader is not None:
                await asyncio.gather(template.reader, return_exceptions=True)

    def resident_bytes(self) -> int:
        """The templates' resident memory together."""
        return sum(resident_bytes(t.proc.pid) for t in self.templates.values())


__all__ = ["ForkedContainer", "TemplatePool", "probe_for", "startup_env"]
