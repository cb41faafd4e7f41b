"""FastFile through a real engine: the FUSE mount inside the job tree, read from the container.

The worker mounts the channel at ``<job tree>/input/data/train`` before the
container starts; the engine bind-mounts the job tree at ``/opt/ml``, and
Docker's and podman's binds are recursive, so the container sees the mount
(not the empty directory under it) and its reads go to the mount process.
The scikit-learn image runs the same probe as ``tests/integration/test_fast_file.py``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import pytest

from tests.containers.conftest import start_node
from tests.integration.fast_file_support import fetched, job_log, seen, train_probe, upload_probe
from tests.support import NodeThread

IMAGES = ("sklearn",)
BIG = 24 << 20


@pytest.fixture(scope="module")
def docker_node(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    node = start_node(tmp_path_factory.mktemp("node-docker-fast-file"), "docker", keep_job_trees=True)
    yield node
    node.stop()


def test_the_container_reads_the_mount_lazily(docker_node: NodeThread) -> None:
    s3, bucket = docker_node.client("s3"), docker_node.settings.data_bucket
    big = os.urandom(BIG)
    s3.put_object(Bucket=bucket, Key="ffd/train/big.bin", Body=big)
    s3.put_object(Bucket=bucket, Key="ffd/train/nested/dir/small.txt", Body=b"small")
    middle = BIG // 2 + 777
    d = train_probe(docker_node, "ff-docker", upload_probe(docker_node), f"s3://{bucket}/ffd/train/", offset=middle)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    saw = seen(docker_node, d)
    assert saw["listing"] == ["big.bin", "nested/dir/small.txt"]
    assert saw["sizes"] == {"big.bin": BIG, "nested/dir/small.txt": 5}
    assert saw["small"] == {"nested/dir/small.txt": "small"}
    assert saw["head"] == hashlib.sha256(big[:1 << 20]).hexdigest()
    assert saw["middle"] == hashlib.sha256(big[middle:middle + 65536]).hexdigest()
    assert saw["config"]["train"]["TrainingInputMode"] == "File"
    log = job_log(docker_node, "ff-docker")
    assert "(container " in log  # the engine ran it
    got, total = fetched(log)
    assert total == 24.0 and got <= 12.0, log  # two 4 MiB blocks (and a neighbour), not the object
    data = docker_node.settings.jobs_dir / "ff-docker" / "algo-1" / "input" / "data" / "train"
    assert not os.path.ismount(data) and not any(data.iterdir())
