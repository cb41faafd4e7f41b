"""Pipe mode beside File mode: one channel read from S3 by a consumer, both ways.

Starts an embedded moto server on a free 127.0.0.1 port, uploads N objects of
M MiB (random bytes, default 8 x 8 MiB) under one prefix, then, fastest of
``--repeat`` runs each:

- File (the baseline): the channel downloaded to a temporary directory as a
  File-mode job's is, then read back by the consumer;
- Pipe: the same objects streamed by Headwater's FIFO writer into
  ``<channel>_0`` while the consumer reads it.

    .venv/bin/python bench/input_modes.py [--objects 8] [--mib 8] [--repeat 3]

Prints, side by side, time to the consumer's first byte, time until it has
read everything, throughput, and the bytes that landed on disk; with the
Pipe/File ratios. Bounded: a fixed amount of data, loopback only, no timing
assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiobotocore.session import get_session  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from services.aws.s3 import S3Adapter  # noqa: E402
from services.inputs.channels import channel_objects, download_channel  # noqa: E402
from services.inputs.models import Channel  # noqa: E402
from services.inputs.pipe.channels import ChannelStream  # noqa: E402
from services.inputs.pipe.feed import PipeFeed  # noqa: E402

BUCKET = "bench-input-modes"
READ = 1 << 20


def _channel() -> Channel:
    return Channel.model_validate({"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/train/"}}})


def _consume(paths: list[Path], marks: dict[str, float]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb") as f:  # noqa: PTH123 - files or a FIFO, read as a trainer would
            while chunk := f.read(READ):
                marks.setdefault("first", time.perf_counter())
                total += len(chunk)
    marks["done"] = time.perf_counter()
    return total


async def _file_mode(s3: S3Adapter, work: Path) -> tuple[float, float, int]:
    dest = work / "file" / "train"
    t0 = time.perf_counter()
    files = await download_channel(s3, _channel(), dest)
    marks: dict[str, float] = {}
    await asyncio.to_thread(_consume, sorted(files), marks)
    landed = sum(p.stat().st_size for p in files)
    for p in files:
        p.unlink()
    return marks["first"] - t0, marks["done"] - t0, landed


async def _pipe_mode(s3: S3Adapter, work: Path) -> tuple[float, float, int]:
    data = work / "pipe"
    t0 = time.perf_counter()
    objects, _ = await channel_objects(s3, _channel())
    stream = ChannelStream(s3, "train", gzip=False, wrap=False, objects=objects)
    feed = PipeFeed(data, "train", stream.chunks)
    feed.start()
    marks: dict[str, float] = {}
    reader = threading.Thread(target=_consume, args=([data / "train_0"], marks))
    reader.start()
    await asyncio.to_thread(reader.join)
    await feed.close()
    landed = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    return marks["first"] - t0, marks["done"] - t0, landed


async def main(objects: int, mib: int, repeat: int, port: int) -> None:
    session = get_session()
    async with session.create_client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                                     aws_access_key_id="bench", aws_secret_access_key="bench") as client:
        s3 = S3Adapter(client)
        await client.create_bucket(Bucket=BUCKET)
        for i in range(objects):
            await client.put_object(Bucket=BUCKET, Key=f"train/part-{i:03d}", Body=os.urandom(mib << 20))
        total = objects * (mib << 20)
        with tempfile.TemporaryDirectory() as tmp:
            results = {}
            for name, run in (("File", _file_mode), ("Pipe", _pipe_mode)):
                runs = [await run(s3, Path(tmp)) for _ in range(repeat)]
                results[name] = (min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs))
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; {objects} objects x {mib} MiB = "
          f"{total >> 20} MiB from moto on loopback, fastest of {repeat}")
    print(f"{'mode':<6}{'first byte s':>14}{'all read s':>12}{'MiB/s':>9}{'landed on disk':>17}")
    for name, (first, done, landed) in results.items():
        print(f"{name:<6}{first:>14.3f}{done:>12.3f}{(total >> 20) / done:>9.1f}{landed >> 20:>14} MiB")
    f, p = results["File"], results["Pipe"]
    print(f"Pipe/File: first byte {p[0] / f[0]:.3f}x, all read {p[1] / f[1]:.2f}x, on disk {p[2]} vs {f[2]} bytes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--mib", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        asyncio.run(asyncio.wait_for(main(args.objects, args.mib, args.repeat, port), timeout=600))
    finally:
        server.stop()
