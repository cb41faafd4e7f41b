"""What keeping the embedded emulator's state on disk costs, beside the same emulator kept in memory only.

Two emulators run in turn in this process, one ephemeral (the baseline) and
one with its state on disk, and each takes the same load from boto3 over
loopback HTTP: ``--objects`` small PutObject calls (``--size`` bytes) while
one thread sends and receives SQS messages, then a tenth as many into a
second bucket beside the first one's objects. Printed per mode: PutObject p50
and p99, SendMessage+ReceiveMessage+DeleteMessage p50, and for the persistent
one how long each snapshot held the request gate (p50 / p99 / max), how many
snapshots committed, the bytes on disk, and how long a restart took to
restore that state. The ratios (persistent / ephemeral) are what to read:
these machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from infra.emulator import EmbeddedEmulator  # noqa: E402

CREDS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "us-east-1"}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _load(url: str, objects: int, size: int, bucket: str) -> dict[str, list[float]]:
    config = Config(s3={"addressing_style": "path"}, max_pool_connections=4)
    s3 = boto3.client("s3", endpoint_url=url, config=config, **CREDS)
    sqs = boto3.client("sqs", endpoint_url=url, config=config, **CREDS)
    s3.create_bucket(Bucket=bucket)
    q = sqs.create_queue(QueueName="bench")["QueueUrl"]
    body = os.urandom(size)
    put: list[float] = []
    messages: list[float] = []
    done = threading.Event()

    def queue_traffic() -> None:
        while not done.is_set():
            t = time.perf_counter()
            sqs.send_message(QueueUrl=q, MessageBody="task")
            for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=1).get("Messages", []):
                sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
            messages.append(time.perf_counter() - t)

    other = threading.Thread(target=queue_traffic)
    other.start()
    try:
        for i in range(objects):
            t = time.perf_counter()
            s3.put_object(Bucket=bucket, Key=f"data/part-{i:06d}", Body=body)
            put.append(time.perf_counter() - t)
    finally:
        done.set()
        other.join()
    return {"put": put, "messages": messages}


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--objects", type=int, default=5000, help="PutObject calls per mode (5000)")
    p.add_argument("--size", type=int, default=1024, help="bytes per object (1024)")
    args = p.parse_args(argv)
    load_before = os.getloadavg()[0]
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="headwater-emulator-state-") as tmp:
        state = Path(tmp) / "emulator"
        for mode, folder in (("ephemeral", None), ("on disk", state)):
            emu = EmbeddedEmulator("127.0.0.1", 0, folder)
            url = emu.start()
            try:
                rows[mode] = _load(url, args.objects, args.size, "bench")
                if emu.state is not None:
                    held, mark = list(emu.state.held_s), len(emu.state.held_s)
                # Then writes to another bucket, beside the first one's objects.
                rows[f"{mode}, another bucket"] = _load(url, args.objects // 10, args.size, "side")
                if emu.state is not None:
                    held_side = list(emu.state.held_s)[mark:]
            finally:
                emu.stop()
            if emu.state is not None:
                snapshots = emu.state.snapshots
        disk = _disk_bytes(state)
        t = time.perf_counter()
        again = EmbeddedEmulator("127.0.0.1", 0, state)
        again.start()
        restore_s = time.perf_counter() - t
        again.stop()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load_before:.2f} -> "
          f"{os.getloadavg()[0]:.2f}; {args.objects} objects of {args.size} bytes, one SQS client beside")
    print()
    print("| mode | PutObject p50 ms | PutObject p99 ms | SQS send+receive+delete p50 ms |")
    print("|---|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode} | {statistics.median(r['put']) * 1e3:.2f} | {_pct(r['put'], 0.99) * 1e3:.2f} | "
              f"{statistics.median(r['messages']) * 1e3:.2f} |")
    for suffix in ("", ", another bucket"):
        base, disk_rows = rows["ephemeral" + suffix], rows["on disk" + suffix]
        print(f"| ratio{suffix} | {statistics.median(disk_rows['put']) / statistics.median(base['put']):.2f}x | "
              f"{_pct(disk_rows['put'], 0.99) / _pct(base['put'], 0.99):.2f}x | "
              f"{statistics.median(disk_rows['messages']) / statistics.median(base['messages']):.2f}x |")
    print()
    print(f"snapshots committed: {snapshots}; gate held per snapshot while filling one bucket to {args.objects} "
          f"objects: p50 {statistics.median(held) * 1e3:.1f} ms, p99 {_pct(held, 0.99) * 1e3:.1f} ms, "
          f"max {max(held) * 1e3:.1f} ms; then writing another bucket beside it: p50 "
          f"{statistics.median(held_side) * 1e3:.1f} ms, max {max(held_side) * 1e3:.1f} ms")
    print(f"on disk: {disk / 1e6:.1f} MB for {args.objects * args.size / 1e6:.1f} MB of object bodies; "
          f"restart restored it in {restore_s:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
