"""Channel downloads never write outside the channel directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.aws.s3 import S3Object
from services.core.exceptions import JobFailed
from services.inputs.channels import download_channel, relative_key, safe_destination
from services.inputs.models import Channel


class FakeS3:
    """Lists the given keys; writes each object's key as its content."""

    def __init__(self, keys: list[str], manifest: object = None) -> None:
        self.keys = keys
        self.manifest = manifest

    async def list_objects(self, bucket: str, prefix: str) -> AsyncIterator[S3Object]:
        for k in self.keys:
            if k.startswith(prefix):
                yield S3Object(bucket, k, 1, "e")

    async def get_json(self, bucket: str, key: str) -> tuple[object, str] | None:
        return (self.manifest, "etag") if key == "manifest" and self.manifest is not None else None

    async def download_file(self, bucket: str, key: str, dest: Path) -> int:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(key)
        return len(key)


def _channel(uri: str) -> Channel:
    return Channel.model_validate({"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": uri}}})


@pytest.mark.parametrize("relative", ["../x.csv", "a/../../x.csv", "/etc/passwd", "..", "", "a/b/../../.."])
def test_escaping_paths_are_refused(tmp_path: Path, relative: str) -> None:
    with pytest.raises(JobFailed, match="outside its channel directory"):
        safe_destination(tmp_path / "train", relative)


def test_nested_paths_stay_nested(tmp_path: Path) -> None:
    assert safe_destination(tmp_path, "a//b/./c.csv") == tmp_path / "a" / "b" / "c.csv"


def test_relative_key_follows_sagemaker_layout() -> None:
    assert relative_key("data/train/", "data/train/a.csv") == "a.csv"
    assert relative_key("data/train", "data/train/sub/a.csv") == "sub/a.csv"
    assert relative_key("data/train.csv", "data/train.csv") == "train.csv"  # the URI names the object


async def test_download_lays_out_files(tmp_path: Path) -> None:
    s3 = FakeS3(["d/train/a.csv", "d/train/sub/b.csv", "d/train/dir/"])
    files = await download_channel(s3, _channel("s3://bkt/d/train/"), tmp_path / "train")  # type: ignore[arg-type]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in files) == ["train/a.csv", "train/sub/b.csv"]


async def test_a_hostile_key_fails_the_job_and_writes_nothing(tmp_path: Path) -> None:
    s3 = FakeS3(["d/train/a.csv", "d/train/../../../escaped.csv"])
    root = tmp_path / "job" / "input" / "data" / "train"
    with pytest.raises(JobFailed, match="escaped.csv"):
        await download_channel(s3, _channel("s3://bkt/d/train/"), root)  # type: ignore[arg-type]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []  # every destination is checked before anything is written


async def test_an_empty_channel_fails_like_sagemaker(tmp_path: Path) -> None:
    with pytest.raises(JobFailed, match="No S3 objects found under S3 URL"):
        await download_channel(FakeS3([]), _channel("s3://bkt/none/"), tmp_path)  # type: ignore[arg-type]


async def test_a_manifest_channel_lays_out_its_listed_keys(tmp_path: Path) -> None:
    s3 = FakeS3([], manifest=[{"prefix": "s3://bkt/data/"}, "a/part-1.rec", "part-2.rec"])
    channel = Channel.model_validate({"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "ManifestFile", "S3Uri": "s3://bkt/manifest"}}})
    files = await download_channel(s3, channel, tmp_path / "train")  # type: ignore[arg-type]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in files) == ["train/a/part-1.rec", "train/part-2.rec"]
    assert (tmp_path / "train/a/part-1.rec").read_text() == "data/a/part-1.rec"


async def test_a_manifest_entry_climbing_out_fails_the_job(tmp_path: Path) -> None:
    s3 = FakeS3([], manifest=[{"prefix": "s3://bkt/data/"}, "../../escape.rec"])
    channel = Channel.model_validate({"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "ManifestFile", "S3Uri": "s3://bkt/manifest"}}})
    with pytest.raises(JobFailed):
        await download_channel(s3, channel, tmp_path / "train")  # type: ignore[arg-type]
    assert not list(tmp_path.rglob("*.rec"))
