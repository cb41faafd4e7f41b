"""Model artifacts are cached by content: a new model at the same S3 key is fetched again, and the cache
stays within its bound."""

from __future__ import annotations

import hashlib
from pathlib import Path

from services.aws.s3 import S3Object
from services.inference.artifacts import ArtifactCache


class FakeS3:
    """Objects by (bucket, key), each with the ETag S3 would give it."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.downloads = 0

    def put(self, key: str, body: bytes) -> None:
        self.objects[("models", key)] = body

    async def head(self, bucket: str, key: str) -> S3Object | None:
        body = self.objects.get((bucket, key))
        return None if body is None else S3Object(bucket, key, len(body), f'"{hashlib.md5(body).hexdigest()}"')

    async def download_file(self, bucket: str, key: str, dest: Path, if_match: str | None = None) -> int:
        self.downloads += 1
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.objects[(bucket, key)])
        return len(self.objects[(bucket, key)])


async def test_a_new_model_at_the_same_key_is_fetched_again(tmp_path: Path) -> None:
    s3 = FakeS3()
    cache = ArtifactCache(s3, tmp_path)  # type: ignore[arg-type]
    s3.put("m/model.tar.gz", b"version one")
    async with cache.archive("s3://models/m/model.tar.gz") as first:
        assert first.read_bytes() == b"version one"
    async with cache.archive("s3://models/m/model.tar.gz") as again:
        assert again.read_bytes() == b"version one" and s3.downloads == 1  # unchanged: not fetched twice
    s3.put("m/model.tar.gz", b"version two")  # UpdateEndpoint to a model retrained into the same key
    async with cache.archive("s3://models/m/model.tar.gz") as second:
        assert second.read_bytes() == b"version two"


async def test_the_cache_keeps_within_its_bound_and_never_drops_an_archive_in_use(tmp_path: Path) -> None:
    s3 = FakeS3()
    cache = ArtifactCache(s3, tmp_path, max_bytes=25)  # type: ignore[arg-type]
    for name in ("a", "b", "c"):
        s3.put(f"{name}/model.tar.gz", name.encode() * 10)
    async with cache.archive("s3://models/a/model.tar.gz") as a:
        async with cache.archive("s3://models/b/model.tar.gz"):
            async with cache.archive("s3://models/c/model.tar.gz") as c:
                assert a.read_bytes() == b"a" * 10 and c.read_bytes() == b"c" * 10  # all pinned: all kept
    async with cache.archive("s3://models/c/model.tar.gz"):
        pass
    kept = sorted(p.read_bytes()[:1] for p in tmp_path.rglob("model.tar.gz"))
    assert sum(len(p.read_bytes()) for p in tmp_path.rglob("model.tar.gz")) <= 25 and b"c" in kept
