"""A transform job reads its input objects in bounded pieces, sending records as it reads.

The executor runs against the embedded emulator with a stand-in model (an
instance that answers each record with its length), so the test can watch
every read of an input object's body and every request sent: the bytes
read ahead of what the model has answered stay bounded, however large the
object. The real containers are driven in ``test_transform.py``.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session

from services.aws.s3 import S3Adapter
from services.aws.session import client_kwargs
from services.core.settings import Settings
from services.core.times import utcnow
from services.inference.instance import Answer
from services.transform.executor import TransformJobExecutor
from services.transform.models import TransformJob, TransformJobStatus

MIB = 1024 * 1024


@pytest.fixture
async def client(emulator: str) -> AsyncIterator[Any]:
    async with get_session().create_client("s3", **client_kwargs(Settings(aws_endpoint=emulator), "s3")) as c:
        for bucket in ("input", "output"):
            await c.create_bucket(Bucket=bucket)
        yield c


class Ledger:
    """What was read of input bodies and what the model has answered, in bytes."""

    def __init__(self) -> None:
        self.reads: list[int] = []
        self.read = 0
        self.answered = 0
        self.ahead: list[int] = []  # at each read: bytes read and not yet answered

    def record_read(self, size: int) -> None:
        self.reads.append(size)
        self.read += size
        self.ahead.append(self.read - self.answered)


class RecordingBody:
    """An object body whose reads go to the ledger."""

    def __init__(self, inner: Any, ledger: Ledger) -> None:
        self.inner, self.ledger = inner, ledger

    async def __aenter__(self) -> RecordingBody:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self.inner.__aexit__(*exc)

    async def read(self, amt: int | None = None) -> bytes:
        data: bytes = await (self.inner.read() if amt is None or amt < 0 else self.inner.read(amt))
        self.ledger.record_read(len(data))
        return data


class RecordingClient:
    """The S3 client given to the executor: input object bodies are read through :class:`RecordingBody`."""

    def __init__(self, inner: Any, ledger: Ledger) -> None:
        self.inner, self.ledger = inner, ledger

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def get_object(self, **kwargs: Any) -> Any:
        resp = await self.inner.get_object(**kwargs)
        if kwargs["Bucket"] == "input":
            resp["Body"] = RecordingBody(resp["Body"], self.ledger)
        return resp


class LengthModel:
    """An instance whose model answers each record (one per line) with its length."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.requests = 0

    async def invoke(self, session: Any, body: bytes, content_type: str | None, accept: str | None,
                     custom: str | None, timeout: float) -> Answer:
        self.requests += 1
        self.ledger.answered += len(body)
        return Answer(200, b"".join(b"%d\n" % len(line) for line in body.splitlines()), "text/csv")

    async def stop(self, grace: float) -> None:
        pass


class Jobs:
    """The transform service as the executor uses it, over one job held in memory."""

    clock = staticmethod(utcnow)

    def __init__(self, job: TransformJob) -> None:
        self.job = job

    async def describe_transform_job(self, name: str) -> TransformJob:
        return self.job

    async def transition(self, name: str, status: TransformJobStatus | None = None, edit: Any = None) -> TransformJob:
        if edit is not None:
            edit(self.job)
        if status is not None:
            self.job.transform_job_status = status
        return self.job


def _job(prefix: str, split: str, strategy: str, compression: str = "None") -> TransformJob:
    now = utcnow()
    return TransformJob(
        TransformJobName="stream", ModelName="lengths", TransformJobArn="arn:aws:sagemaker:::transform-job/stream",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://input/{prefix}/"}},
                        "ContentType": "text/csv", "SplitType": split, "CompressionType": compression},
        TransformOutput={"S3OutputPath": "s3://output/run", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        MaxConcurrentTransforms=2, BatchStrategy=strategy, MaxPayloadInMB=1,
        CreationTime=now, LastModifiedTime=now)


async def _run(client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, job: TransformJob,
               ledger: Ledger) -> LengthModel:
    model = LengthModel(ledger)

    async def start(self: Any, job: TransformJob, session: Any) -> list[LengthModel]:
        return [model]

    monkeypatch.setattr(TransformJobExecutor, "_start", start)
    jobs = Jobs(job)
    s3 = S3Adapter(RecordingClient(client, ledger))
    executor = TransformJobExecutor(Settings(state_dir=tmp_path), jobs, None, s3, None, None)  # type: ignore[arg-type]
    await executor.execute(job.transform_job_name)
    assert (job.transform_job_status, job.failure_reason) == (TransformJobStatus.COMPLETED, None)
    return model


async def _output(client: Any, key: str) -> bytes:
    resp = await client.get_object(Bucket="output", Key=key)
    async with resp["Body"] as body:
        data: bytes = await body.read()
        return data


async def test_an_input_object_is_read_in_bounded_pieces_as_its_records_are_sent(
        client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [b"%d," % i + b"7" * (64 * 1024 - 8) for i in range(64)]  # 4 MiB: 64 records of 64 KiB
    await client.put_object(Bucket="input", Key="big/big.csv", Body=b"\n".join(lines) + b"\n")
    ledger = Ledger()
    model = await _run(client, tmp_path, monkeypatch, _job("big", "Line", "SingleRecord"), ledger)
    assert model.requests == 64
    assert await _output(client, "run/big.csv.out") == b"".join(b"%d\n" % len(line) for line in lines)
    assert ledger.read == sum(len(line) + 1 for line in lines)
    # Read a piece at a time, and never far ahead of the model: not the whole object before the first request.
    assert max(ledger.reads) <= MIB
    assert max(ledger.ahead) <= 2 * MIB


async def test_gzipped_input_is_inflated_as_it_streams(client: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [b"row-%d" % i for i in range(5000)]
    data = b"\n".join(lines) + b"\n"
    # Two gzip members, as a concatenation of gzipped files is.
    await client.put_object(Bucket="input", Key="gz/part.csv.gz",
                            Body=gzip.compress(data[:20000]) + gzip.compress(data[20000:]))
    await _run(client, tmp_path, monkeypatch, _job("gz", "Line", "MultiRecord", "Gzip"), Ledger())
    assert await _output(client, "run/part.csv.gz.out") == b"".join(b"%d\n" % len(line) for line in lines)
