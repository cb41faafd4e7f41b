"""What listing a collection of the state store costs, cold and warm, beside reading every document.

One embedded emulator; ``--documents`` small JSON documents (about the size of
a training job's) are written to one collection of the system bucket through
the S3 backend. Then, each ``--repeat`` times over loopback HTTP:

* baseline: the listing as it was, one ``ListObjectsV2`` walk and a
  ``GetObject`` of every document, every call;
* cold: a new ``DocumentStore`` listing it (what the first call after a
  start costs: the same reads, plus holding each document);
* warm: the same store listing it again, nothing changed (the listing alone);
* warm, 1% changed: the same store after another writer replaced 1% of the
  documents (the listing plus those reads).

Printed: p50 and max per mode and the S3 requests each made (GetObject and
ListObjectsV2 pages). The ratios are what to read: these machines are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiobotocore.session import get_session  # noqa: E402
from botocore.config import Config  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from infra.emulator import EmbeddedEmulator  # noqa: E402
from services.aws.s3 import S3Adapter  # noqa: E402
from services.aws.s3_documents import S3Backend  # noqa: E402
from services.core.store import DocumentStore  # noqa: E402

BUCKET = "bench-system"
CREDS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "us-east-1"}


class Job(BaseModel):
    """A document of about a training job's size (1.5 KB of JSON)."""

    name: str
    status: str
    hyper_parameters: dict[str, str]
    channels: list[dict[str, Any]]
    notes: str


def _doc(i: int, status: str = "Completed") -> dict[str, Any]:
    return Job(name=f"job-{i:05d}", status=status,
               hyper_parameters={f"hp{k}": str(k * 0.1) for k in range(12)},
               channels=[{"ChannelName": c, "S3Uri": f"s3://data/{c}/{i}/"} for c in ("train", "validation")],
               notes="x" * 900).model_dump()


class Counter:
    """Counts the S3 requests the client sends, by operation."""

    def __init__(self, client: Any) -> None:
        self.calls: dict[str, int] = {}
        client.meta.events.register("before-call.s3", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1

    def take(self) -> dict[str, int]:
        calls, self.calls = self.calls, {}
        return calls


async def _baseline(backend: S3Backend) -> int:
    keys = await backend.keys("jobs/")
    docs = await asyncio.gather(*(backend.read(k) for k in keys))
    return len([Job.model_validate(d[0]) for d in docs if d is not None])


async def _timed(fn: Any) -> tuple[float, int]:
    t = time.perf_counter()
    n = await fn()
    return time.perf_counter() - t, n


async def run(url: str, documents: int, repeat: int) -> None:
    config = Config(s3={"addressing_style": "path"}, max_pool_connections=16)
    async with get_session().create_client("s3", endpoint_url=url, config=config, **CREDS) as client:
        await client.create_bucket(Bucket=BUCKET)
        backend = S3Backend(S3Adapter(client), BUCKET)
        for start in range(0, documents, 50):
            await asyncio.gather(*(backend.create(f"jobs/job-{i:05d}.json", _doc(i))
                                   for i in range(start, min(documents, start + 50))))
        counter = Counter(client)
        results: dict[str, list[float]] = {m: [] for m in ("baseline", "cold", "warm", "warm, 1% changed")}
        requests: dict[str, dict[str, int]] = {}
        changed = max(1, documents // 100)
        for r in range(repeat):
            seconds, n = await _timed(lambda: _baseline(backend))
            assert n == documents
            results["baseline"].append(seconds)
            requests["baseline"] = counter.take()
            store: DocumentStore[Job] = DocumentStore(backend, "jobs", Job, "Job")
            seconds, _ = await _timed(store.list)
            results["cold"].append(seconds)
            requests["cold"] = counter.take()
            seconds, _ = await _timed(store.list)
            results["warm"].append(seconds)
            requests["warm"] = counter.take()
            for i in range(changed):  # another writer: the store does not see these writes
                key = f"jobs/job-{(r * changed + i) % documents:05d}.json"
                _, version = await backend.read(key)
                await backend.replace(key, _doc(i, status=f"Changed{r}"), version)
            counter.take()
            seconds, listed = await _timed(store.list)
            assert len(listed) == documents
            results["warm, 1% changed"].append(seconds)
            requests["warm, 1% changed"] = counter.take()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.node()}: {os.cpu_count()} cores, load average {load:.1f}; {documents} documents, "
          f"{repeat} runs each")
    base = statistics.median(results["baseline"])
    print(f"{'mode':<18} {'p50 ms':>9} {'max ms':>9} {'vs baseline':>12}  S3 requests per listing")
    for mode, times in results.items():
        p50 = statistics.median(times)
        calls = ", ".join(f"{k} {v}" for k, v in sorted(requests[mode].items()))
        print(f"{mode:<18} {p50 * 1000:>9.1f} {max(times) * 1000:>9.1f} {p50 / base:>11.2f}x  {calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request log
    emulator = EmbeddedEmulator("127.0.0.1", 0)
    url = emulator.start()
    try:
        asyncio.run(run(url, args.documents, args.repeat))
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
