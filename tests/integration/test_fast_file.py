"""FastFile on a real node: channels mounted through FUSE, bytes fetched from S3 only when read.

A script-mode program (the scikit-learn image, under the process runner: its
``/opt/ml`` is the job tree bound in a private namespace) reads the head of a
large object, seeks into its middle and lists the channel. The contents must
match, ``inputdataconfig.json`` must say File, and the job log's stats must
show far fewer bytes fetched than the object holds: that is what proves the
reads were lazy. Also: a ``ShardedByS3Key`` channel on two hosts, a read that
fails (EIO in the container, the object and offset in FailureReason), a
stopped job's mount ending with it, and the fall-back to File where FUSE is
unavailable, said in the job's log; then a mount process that is refused
(the caller downloads instead) or never goes live (the job fails).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.core.exceptions import JobFailed
from services.inputs.fastfile import mounts as fast_file
from services.inputs.fastfile.layout import FastFileEntry
from services.inputs.fastfile.process import FastFileMount
from tests.integration.fast_file_support import fetched, job_log, seen, train_probe, upload_probe
from tests.support import NodeThread, free_port_settings, wait_for, wait_for_job

BIG = 48 << 20  # twelve 4 MiB blocks


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    # Ended jobs' trees are kept: the tests look into them (nothing written, the mount gone).
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("fast-file"), keep_job_trees=True)).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def source(node: NodeThread) -> str:
    return upload_probe(node)


@pytest.fixture(scope="module")
def big(node: NodeThread) -> bytes:
    """A large object and small ones under nested prefixes: ``s3://<data>/ff/train/``."""
    data = os.urandom(BIG)
    s3, bucket = node.client("s3"), node.settings.data_bucket
    s3.put_object(Bucket=bucket, Key="ff/train/big.bin", Body=data)
    s3.put_object(Bucket=bucket, Key="ff/train/labels/a.txt", Body=b"alpha")
    s3.put_object(Bucket=bucket, Key="ff/train/labels/deep/b.txt", Body=b"beta")
    return data


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_program_reads_only_what_it_touches(node: NodeThread, source: str, big: bytes) -> None:
    middle = BIG // 2 + 12345
    d = train_probe(node, "ff-lazy", source, f"s3://{node.settings.data_bucket}/ff/train/", offset=middle)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    saw = seen(node, d)
    assert saw["listing"] == ["big.bin", "labels/a.txt", "labels/deep/b.txt"]
    assert saw["sizes"] == {"big.bin": BIG, "labels/a.txt": 5, "labels/deep/b.txt": 4}
    assert saw["small"] == {"labels/a.txt": "alpha", "labels/deep/b.txt": "beta"}
    assert saw["head"] == _sha(big[:1 << 20])
    assert saw["middle"] == _sha(big[middle:middle + 65536])
    assert saw["config"]["train"]["TrainingInputMode"] == "File"  # as SageMaker tells a FastFile container
    log = job_log(node, "ff-lazy")
    assert "FastFile channel train: mounted 3 file(s) (48.0 MiB)" in log
    got, total = fetched(log)
    assert total == 48.0
    assert got <= 12.0, log  # the head's block and the middle's (and its neighbour): not 48 MiB
    data = node.settings.jobs_dir / "ff-lazy" / "algo-1" / "input" / "data" / "train"
    assert not os.path.ismount(data) and not any(data.iterdir())  # unmounted; nothing was ever written here


def test_a_sharded_channel_mounts_each_hosts_share(node: NodeThread, source: str) -> None:
    s3, bucket = node.client("s3"), node.settings.data_bucket
    for i in range(4):
        s3.put_object(Bucket=bucket, Key=f"ff/sharded/part-{i}.txt", Body=f"part {i}".encode())
    d = train_probe(node, "ff-sharded", source, f"s3://{bucket}/ff/sharded/", hosts=2, distribution="ShardedByS3Key")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert seen(node, d)["small"] == {"part-0.txt": "part 0", "part-2.txt": "part 2"}  # algo-1's share
    log2 = job_log(node, "ff-sharded", "algo-2")
    assert 'listing: ["part-1.txt", "part-3.txt"]' in log2
    assert "FastFile channel train: read 0.0 MiB of 0.0 MiB from S3 (2 file(s))" in log2


def test_a_read_that_fails_names_the_object_and_offset(node: NodeThread, source: str, big: bytes) -> None:
    s3, bucket = node.client("s3"), node.settings.data_bucket
    s3.put_object(Bucket=bucket, Key="ff/vanishing/big.bin", Body=big[:8 << 20])
    train_probe(node, "ff-eio", source, f"s3://{bucket}/ff/vanishing/", offset=5 << 20, wait_for_go=True, wait=False)
    flags = node.settings.jobs_dir / "ff-eio" / "algo-1" / "output" / "intermediate"
    wait_for(lambda: (flags / "listed").exists(), 120, what="the program to list its channel")
    s3.delete_object(Bucket=bucket, Key="ff/vanishing/big.bin")  # the mount listed it; now reads must fail
    (flags / "go").touch()
    d = wait_for_job(node.client("sagemaker"), "ff-eio", timeout=120)
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert reason.startswith("ClientError: FastFile channel train: reading big.bin at offset 0 "
                             f"(s3://{bucket}/ff/vanishing/big.bin) failed: "), reason
    assert "NoSuchKey" in reason, reason
    assert "The training container then failed: AlgorithmError" in reason, reason
    log = job_log(node, "ff-eio")
    assert "OSError: [Errno 5] Input/output error" in log  # what the program saw: EIO
    assert re.search(r"FastFile channel train: read 0\.0 MiB of 8\.0 MiB from S3 \(1 file\(s\)\); \d+ read\(s\) failed",
                     log), log


def test_a_stopped_job_ends_its_mount(node: NodeThread, source: str, big: bytes) -> None:
    train_probe(node, "ff-stop", source, f"s3://{node.settings.data_bucket}/ff/train/", wait_for_go=True, wait=False)
    root = node.settings.jobs_dir / "ff-stop" / "algo-1"
    wait_for(lambda: (root / "output/intermediate/listed").exists(), 120, what="the program to list its channel")
    assert os.path.ismount(root / "input/data/train")  # live while the container runs
    sm = node.client("sagemaker")
    sm.stop_training_job(TrainingJobName="ff-stop")
    d = wait_for_job(sm, "ff-stop", timeout=120)
    assert d["TrainingJobStatus"] == "Stopped", d.get("FailureReason")
    assert not os.path.ismount(root / "input/data/train")
    assert "FastFile channel train: read 0.0 MiB of 48.0 MiB from S3 (3 file(s))" in job_log(node, "ff-stop")


def test_without_fuse_the_channel_is_downloaded_and_the_log_says_so(
        node: NodeThread, source: str, big: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_file, "fuse_unavailable_reason", lambda: "there is no /dev/fuse")
    d = train_probe(node, "ff-fallback", source, f"s3://{node.settings.data_bucket}/ff/train/", offset=7)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    saw = seen(node, d)
    assert saw["middle"] == _sha(big[7:7 + 65536]) and saw["config"]["train"]["TrainingInputMode"] == "File"
    assert ("FastFile channel train: FUSE is unavailable here (there is no /dev/fuse); downloaded as File instead"
            in job_log(node, "ff-fallback"))
    data = node.settings.jobs_dir / "ff-fallback" / "algo-1" / "input" / "data" / "train"
    assert (data / "big.bin").stat().st_size == BIG and not os.path.ismount(data)  # a real download


def _mount(tmp_path: Path) -> FastFileMount:
    return FastFileMount("train", tmp_path / "train", [FastFileEntry("a.txt", "bkt", "a.txt", 1)])


async def test_a_refused_mount_says_why(tmp_path: Path) -> None:
    mount = _mount(tmp_path)
    refused = await mount.start({**os.environ, "FUSE_LIBRARY_NAME": "no-such-fuse"})
    assert refused is not None and refused.startswith("the mount was refused: "), refused
    assert "Unable to find libfuse" in refused
    assert not os.path.ismount(tmp_path / "train")


async def test_a_mount_that_never_goes_live_fails_the_job_and_its_process_is_ended(tmp_path: Path) -> None:
    # A sitecustomize that hangs stands for a mount process stuck before its mount.
    (tmp_path / "hang").mkdir()
    (tmp_path / "hang" / "sitecustomize.py").write_text("import time\ntime.sleep(600)\n")
    mount = _mount(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "hang"), os.environ.get("PYTHONPATH", "")])}
    with pytest.raises(JobFailed, match=r"FastFile channel train: the FUSE mount at .* was not live within 1 s"):
        await mount.start(env, timeout=1.0)
    assert mount.proc is None  # waited for (killed: it would not exit)
