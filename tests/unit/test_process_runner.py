"""The process runner's children do not outlive the node that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PARENT = r"""
import asyncio
from pathlib import Path
from services.runners.images import ContainerImage
from services.runners.base import RunSpec
from services.runners.process import ProcessRunner

async def main():
    # A stand-in container: a module that would run for a minute.
    spec = RunSpec(name="t", image=ContainerImage("x", "timeit", "x"), command=["-n", "1", "import time; time.sleep(60)"],
                   ml_root=Path({root!r}), env={{}})
    container = await ProcessRunner().start(spec)
    print(container.proc.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    """Running (a zombie has died; only its parent has not reaped it yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_a_container_dies_with_a_node_killed_hard(tmp_path: Path) -> None:
    node = subprocess.Popen([sys.executable, "-c", PARENT.format(root=str(tmp_path))], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        child = int(node.stdout.readline())  # type: ignore[union-attr]
        assert _alive(child)
        os.kill(node.pid, signal.SIGKILL)  # the node we started, by its pid
        node.wait(10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if node.poll() is None:
            node.kill()
