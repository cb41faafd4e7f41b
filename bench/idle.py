"""What an idle node costs: CPU % and RSS of ``headwater up`` beside a bare moto server, over the same window.

Two processes are started side by side, each on free ``127.0.0.1`` ports:

* ``headwater up`` (the embedded emulator, control plane, handler runtime,
  worker, every clock), its state directory in a temporary folder that is
  removed afterwards (``--ephemeral`` for an emulator that keeps nothing);
* a bare moto server (moto's ``ThreadedMotoServer``) in a process of its own:
  the floor any node on the embedded emulator pays.

Once the node says it is up, both are left alone for ``--settle`` seconds
(start-up work: provisioning, pre-started function environments), then
measured over ``--seconds`` (60): CPU time (user + system) of each process
tree, read from ``/proc/<pid>/stat`` of every process in the tree plus the
children it reaped, at the start and the end of the window; and the tree's
RSS (``VmRSS``), sampled every 5 s (mean and peak). CPU % is of one core
(100% = one core busy all the window). Nothing calls either process during
the window: the figures are what the node does on its own.

Printed: one row per process and the difference; the target is **under 1%
CPU above the bare moto server**. These machines run other work: read the
difference, and run it twice when it is close.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
TARGET_PERCENT = 1.0

BARE_MOTO = (
    "import signal, sys, threading\n"
    "from moto.server import ThreadedMotoServer\n"
    "server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
    "server.start()\n"
    "print('moto up on', server.get_host_and_port(), flush=True)\n"
    "done = threading.Event()\n"
    "signal.signal(signal.SIGTERM, lambda *_: done.set())\n"
    "done.wait()\n"
    "server.stop()\n"
)


def _stat(pid: int) -> tuple[int, float, float] | None:
    """``(ppid, own cpu seconds, reaped children's cpu seconds)`` of ``pid``, or ``None`` once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) ": state is fields[0]
    ppid, utime, stime, cutime, cstime = int(fields[1]), *(int(f) for f in fields[11:15])
    return ppid, (utime + stime) / TICKS, (cutime + cstime) / TICKS


def _tree(root: int) -> list[int]:
    """``root`` and every live descendant."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parents.setdefault(st[0], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds the tree under ``root`` has used: live processes' own time, plus what each reaped."""
    total = 0.0
    for pid in _tree(root):
        if (st := _stat(pid)) is not None:
            total += st[1] + st[2]
    return total


def tree_rss_mib(root: int) -> float:
    """Resident memory of the tree under ``root``, MiB."""
    pages = 0
    for pid in _tree(root):
        try:
            pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
    return pages * PAGE / 2**20


@dataclass
class Subject:
    """One measured process: how to start it, the line that says it is up, what was measured."""

    name: str
    argv: list[str]
    ready: str
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    up: threading.Event = field(default_factory=threading.Event)
    cpu: float = 0.0
    rss: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env={**os.environ, **self.env}, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:  # drained all along, so a chatty process never blocks on its pipe
            self.lines.append(line.rstrip())
            if self.ready in line:
                self.up.set()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT if self.name.startswith("headwater") else signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only what this bench started
            self.proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window (60)")
    ap.add_argument("--settle", type=float, default=15.0, help="seconds left alone after start-up, unmeasured (15)")
    ap.add_argument("--ephemeral", action="store_true", help="headwater up --ephemeral (the emulator keeps nothing)")
    ap.add_argument("--startup-timeout", type=float, default=180.0)
    args = ap.parse_args()

    state = Path(tempfile.mkdtemp(prefix="headwater-idle-"))
    python = sys.executable
    up = [python, "-c", "import sys; from infra.cli.main import main; sys.exit(main(sys.argv[1:]))", "--state-dir", str(state), "up", "--port", "0", "--sagemaker-port", "0",
          "--runtime-port", "0", "--lambda-port", "0", "--autoscaling-port", "0"]
    if args.ephemeral:
        up.append("--ephemeral")
    subjects = [Subject("headwater up" + (" --ephemeral" if args.ephemeral else ""), up, "Headwater is up",
                        env={"PYTHONPATH": str(ROOT)}),
                Subject("bare moto server", [python, "-c", BARE_MOTO], "moto up on")]
    try:
        for s in subjects:
            s.start()
        deadline = time.monotonic() + args.startup_timeout
        for s in subjects:
            if not s.up.wait(max(0.0, deadline - time.monotonic())):
                print(f"{s.name} did not come up within {args.startup_timeout:.0f} s; its output:", file=sys.stderr)
                print("\n".join(s.lines[-40:]), file=sys.stderr)
                return 1
        time.sleep(args.settle)  # start-up work is not idle work
        start = {s.name: tree_cpu_seconds(s.proc.pid) for s in subjects if s.proc}
        t0 = time.monotonic()
        while (left := args.seconds - (time.monotonic() - t0)) > 0:
            for s in subjects:
                if s.proc is not None:
                    s.rss.append(tree_rss_mib(s.proc.pid))
            time.sleep(min(5.0, left))
        elapsed = time.monotonic() - t0
        for s in subjects:
            if s.proc is not None:
                s.cpu = tree_cpu_seconds(s.proc.pid) - start[s.name]
                s.rss.append(tree_rss_mib(s.proc.pid))
                if s.proc.poll() is not None:
                    print(f"{s.name} exited during the window ({s.proc.returncode})", file=sys.stderr)
                    return 1
    finally:
        for s in subjects:
            s.stop()
        shutil.rmtree(state, ignore_errors=True)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; window {elapsed:.1f} s after {args.settle:.0f} s settle")
    print(f"{'process':<28} {'CPU s':>7} {'CPU %':>7} {'RSS MiB mean':>13} {'RSS MiB peak':>13}")
    for s in subjects:
        print(f"{s.name:<28} {s.cpu:>7.2f} {100 * s.cpu / elapsed:>7.2f} {statistics.mean(s.rss):>13.0f} "
              f"{max(s.rss):>13.0f}")
    node, bare = subjects
    above = 100 * (node.cpu - bare.cpu) / elapsed
    print(f"{'above the bare moto server':<28} {node.cpu - bare.cpu:>7.2f} {above:>7.2f} "
          f"{statistics.mean(node.rss) - statistics.mean(bare.rss):>13.0f}")
    print(f"target: under {TARGET_PERCENT:.0f}% CPU above the bare moto server: "
          f"{'met' if above < TARGET_PERCENT else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
