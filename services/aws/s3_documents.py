"""The state store's S3 backend: documents as JSON objects in the system bucket.

Creates with ``If-None-Match: *`` and replaces with ``If-Match: <etag>``, the
conditional writes real S3, moto and LocalStack enforce, so two writers
never both win (:class:`services.core.store.DocumentStore` retries the loser).
"""

from __future__ import annotations

from typing import Any

from services.aws.s3 import S3Adapter
from services.core.store import StoreBackend


class S3Backend(StoreBackend):
    """Documents as objects in the system bucket."""

    def __init__(self, s3: S3Adapter, bucket: str, root: str = "state/") -> None:
        self.s3 = s3
        self.bucket = bucket
        self.root = root

    async def read(self, key: str) -> tuple[Any, str] | None:
        return await self.s3.get_json(self.bucket, self.root + key)

    async def create(self, key: str, doc: Any) -> str:
        return await self.s3.put_json(self.bucket, self.root + key, doc, if_none_match=True)

    async def replace(self, key: str, doc: Any, version: str) -> str:
        return await self.s3.put_json(self.bucket, self.root + key, doc, if_match=version)

    async def keys(self, prefix: str) -> list[str]:
        n = len(self.root)
        return [o.key[n:] async for o in self.s3.list_objects(self.bucket, self.root + prefix)]

    async def listing(self, prefix: str) -> list[tuple[str, str | None]]:
        # ListObjectsV2 reports each object's ETag, the same tag GetObject and the conditional writes use.
        n = len(self.root)
        return [(o.key[n:], o.etag or None) async for o in self.s3.list_objects(self.bucket, self.root + prefix)]

    async def delete(self, key: str) -> None:
        await self.s3.delete(self.bucket, self.root + key)
