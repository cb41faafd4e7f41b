"""Fault injection: does every job, event and request come out exactly once?

Runs the scenarios of ``tests/faults/`` (the fault suite's own code) with
more trials, on nodes in this process on free loopback ports with their
state in temporary directories (and, for Ctrl-C to ``headwater up`` and the
node SIGKILLed and restarted, the node as a subprocess), and prints one table: scenario,
trials, jobs, events or requests in, completed (or answered) exactly once, duplicated, lost, stuck,
and the time from the fault to the outcome (p50 / max). Target: 0
duplicated, 0 lost, 0 stuck in every row. Below the table: the scenarios'
notes (a job's end, the DescribeTrainingJob p99 ratio of the noisy-job
scenario).

No timing is asserted: the exit status is non-zero only when a row misses the
target.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from infra.emulator import EmbeddedEmulator  # noqa: E402
from tests.faults.node_interrupt import SCENARIO as NODE_INTERRUPT  # noqa: E402
from tests.faults.node_interrupt import interrupted_node  # noqa: E402
from tests.faults.node_restart import SCENARIO as NODE_KILL  # noqa: E402
from tests.faults.node_restart import killed_node  # noqa: E402
from tests.faults.scenarios import (  # noqa: E402
    Outcome,
    duplicate_s3_event,
    interrupted_worker,
    killed_worker,
    node_behind_proxy,
    noisy_job,
    refused_enqueue,
    refused_publish,
    reset_endpoint_connection,
    stalled_worker,
    unreachable_emulator,
)
from tests.support import NodeThread, free_port_settings  # noqa: E402


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{np.percentile(values, 50):.1f} s / {max(values):.1f} s"


def interrupted_node_row(root: Path, trials: int) -> tuple[Outcome, list[int | None]]:
    """Ctrl-C to ``headwater up`` (a subprocess) under capture load; the row and the node's exit codes.

    Each trial has a stand-alone emulator of its own: S3 outlives the node, and a node restores the endpoints
    it finds in the state store, so on a shared one each trial would also serve the earlier trials' endpoints."""
    total = Outcome(NODE_INTERRUPT)
    codes: list[int | None] = []
    for i in range(trials):
        emulator = EmbeddedEmulator("127.0.0.1", 0)
        url = emulator.start()
        try:
            out, code = interrupted_node(url, i, root / f"up-{i}")
        finally:
            emulator.stop()
        total.add(out)
        codes.append(code)
    return total, codes


def endpoint_unreachable_row(root: Path, trials: int) -> Outcome:
    """The AWS endpoint unreachable for 10 s mid-job: a node that reaches a stand-alone emulator through a
    proxy that goes dark and comes back (the node's own embedded emulator shares its process: no switch)."""
    emulator = EmbeddedEmulator("127.0.0.1", 0)
    url = emulator.start()
    total = Outcome("AWS endpoint unreachable for 10 s mid-job")
    try:
        with node_behind_proxy(root / "dark", url) as (node, proxy):
            for i in range(trials):
                total.add(unreachable_emulator(node, proxy, i))
    finally:
        emulator.stop()
    print(f"  done: {total.scenario}", flush=True)
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--trials", type=int, default=3, help="trials per scenario (3)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    load_before = os.getloadavg()[0]
    rows: list[Outcome] = []
    ratios: list[float] = []
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="headwater-faults-") as tmp:
        root = Path(tmp)
        node = NodeThread(free_port_settings(root / "node", visibility_timeout=3)).start()
        try:
            for make in (lambda i: duplicate_s3_event(node, i), lambda i: refused_publish(node, i),
                         lambda i: refused_enqueue(node, i), lambda i: reset_endpoint_connection(node, i)):
                total: Outcome | None = None
                for i in range(args.trials):
                    out = make(i)
                    total = out if total is None else (total.add(out) or total)
                assert total is not None
                rows.append(total)
                print(f"  done: {total.scenario}", flush=True)
            total = Outcome("1 MB log line + (a+)+$ metric regex")
            for i in range(args.trials):
                out, ratio = noisy_job(node, i)
                total.add(out)
                ratios.append(ratio)
            rows.append(total)
            print(f"  done: {total.scenario}", flush=True)
        finally:
            node.stop()
        bare = NodeThread(free_port_settings(root / "bare"), with_worker=False).start()
        try:
            for fn in (killed_worker, stalled_worker, interrupted_worker):
                total = None
                for i in range(args.trials):
                    logs = root / f"{fn.__name__}-{i}"
                    logs.mkdir()
                    out = fn(bare, i, logs)
                    total = out if total is None else (total.add(out) or total)
                assert total is not None
                rows.append(total)
                print(f"  done: {total.scenario}", flush=True)
        finally:
            bare.stop()
        rows.append(endpoint_unreachable_row(root, args.trials))
        total = Outcome(NODE_KILL)
        for i in range(args.trials):  # `headwater up` subprocesses on their own embedded emulators
            total.add(killed_node(i, root / "killed"))
        rows.append(total)
        print(f"  done: {total.scenario}", flush=True)
        # After the in-process nodes have stopped: a new emulator resets the emulator state of this process.
        row, exit_codes = interrupted_node_row(root, args.trials)
        rows.append(row)
        print(f"  done: {row.scenario}", flush=True)
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load_before:.2f} -> "
          f"{os.getloadavg()[0]:.2f}; {time.time() - t0:.0f} s in all")
    print()
    print("| scenario | trials | in | completed once | duplicated | lost | stuck | time to recover (p50 / max) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.scenario} | {r.trials} | {r.items_in} | {r.once} | {r.duplicated} | {r.lost} | {r.stuck} | "
              f"{_fmt(r.recover_s)} |")
    print()
    if ratios:
        print(f"DescribeTrainingJob p99 during the noisy job / idle p99: "
              f"{', '.join(f'{x:.2f}x' for x in ratios)}")
    for r in rows:
        for note in r.notes:
            print(f"  {r.scenario}: {note}")
    missed = [r.scenario for r in rows if not r.clean]
    if any(code != 0 for code in exit_codes):  # Ctrl-C's clean exit is 0
        missed.append(f"{NODE_INTERRUPT}: exit codes {exit_codes}")
    print()
    print("target (0 duplicated, 0 lost, 0 stuck in every row): " + ("MET" if not missed else f"NOT MET: {missed}"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
