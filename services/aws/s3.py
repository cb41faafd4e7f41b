"""A narrow, typed surface over S3: JSON documents with conditional writes,
object listing, and streaming files to and from disk."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from services.core.exceptions import PreconditionFailed, ValidationException

log = logging.getLogger(__name__)

# Real S3 answers a lost race with 412, or 409 while another conditional write
# to the same key is in flight; both mean "re-read and try again".
_CONDITIONAL_ERRORS = {"PreconditionFailed", "ConditionalRequestConflict"}
_CHUNK = 1 << 20
MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_SIZE = 64 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3 refuses a smaller part, but for the last
MAX_PARTS = 10_000


@dataclass(frozen=True)
class S3Object:
    """One listed object."""

    bucket: str
    key: str
    size: int
    etag: str


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``; reject anything else."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValidationException(f"Invalid S3 URI: {uri!r}; expected s3://bucket/key")
    return parsed.netloc, parsed.path.lstrip("/")


def is_not_found(err: ClientError) -> bool:
    """True for S3's several spellings of "no such key/bucket"."""
    code = err.response.get("Error", {}).get("Code", "")
    return code in {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}


class S3Adapter:
    """S3 operations Headwater needs, over an injected aiobotocore client."""

    def __init__(self, client: Any, *, multipart_threshold: int = MULTIPART_THRESHOLD,
                 part_size: int = PART_SIZE) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part size {part_size} is under S3's smallest part of {MIN_PART_SIZE} bytes")
        self.client = client
        # Files over the threshold go up as multipart uploads of part_size parts (public so tests lower it).
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size

    async def _get(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """The object's body and ETag, or ``None`` when absent."""
        try:
            resp = await self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as err:
            if is_not_found(err):
                return None
            raise
        async with resp["Body"] as body:
            return await body.read(), str(resp.get("ETag", ""))

    async def get_json(self, bucket: str, key: str) -> tuple[Any, str] | None:
        """The parsed document and its ETag, or ``None`` when absent."""
        found = await self._get(bucket, key)
        return None if found is None else (json.loads(found[0]), found[1])

    async def put_json(
        self, bucket: str, key: str, doc: Any, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        """Write ``doc``; with a condition, raise :class:`PreconditionFailed` on a lost race."""
        kwargs: dict[str, Any] = {}
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        body = json.dumps(doc, separators=(",", ":"), default=str).encode()
        try:
            resp = await self.client.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType="application/json", **kwargs
            )
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in _CONDITIONAL_ERRORS:
                raise PreconditionFailed(f"s3://{bucket}/{key}: {err}") from err
            raise
        return str(resp["ETag"])

    async def list_objects(self, bucket: str, prefix: str) -> AsyncIterator[S3Object]:
        """Every object under ``prefix``, in key order, page by page."""
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield S3Object(bucket, item["Key"], int(item["Size"]), str(item.get("ETag", "")))

    async def head(self, bucket: str, key: str) -> S3Object | None:
        """The object's metadata, or ``None`` when absent."""
        try:
            resp = await self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as err:
            if is_not_found(err):
                return None
            raise
        return S3Object(bucket, key, int(resp["ContentLength"]), str(resp.get("ETag", "")))

    async def download_file(self, bucket: str, key: str, dest: Path, if_match: str | None = None) -> int:
        """Stream one object to ``dest`` (parents created); return bytes written. With ``if_match``, only the
        object with that ETag (else S3's ``PreconditionFailed``)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        extra = {"IfMatch": if_match} if if_match else {}
        resp = await self.client.get_object(Bucket=bucket, Key=key, **extra)
        written = 0
        with dest.open("wb") as out:
            async with resp["Body"] as body:
                while chunk := await body.read(_CHUNK):
                    out.write(chunk)
                    written += len(chunk)
        return written

    async def get_range(self, bucket: str, key: str, start: int, end: int, etag: str | None = None) -> bytes:
        """Bytes ``[start, end)`` of an object (one ranged GET).

        With ``etag`` the read is conditional (``If-Match``): an object replaced
        since it was listed fails with ``PreconditionFailed`` instead of mixing
        bytes of two versions.
        """
        extra = {"IfMatch": etag} if etag else {}
        resp = await self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}", **extra)
        async with resp["Body"] as body:
            return await body.read()

    async def upload_file(self, path: Path, bucket: str, key: str, content_type: str | None = None) -> None:
        """Upload a local file: up to :attr:`multipart_threshold` bytes in one PUT, above it as a
        multipart upload read one part at a time (S3 caps a single PUT at 5 GB, and an artifact need
        not fit in memory). A multipart upload that fails is aborted, so no stored parts are left."""
        extra = {"ContentType": content_type} if content_type else {}
        size = path.stat().st_size
        with path.open("rb") as fh:
            if size <= self.multipart_threshold:
                body = await asyncio.to_thread(fh.read, size)
                await self.client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
                return
            # S3 allows at most 10,000 parts: a file past that many parts goes up in larger ones.
            part_size = max(self.part_size, -(-size // MAX_PARTS))
            upload_id = (await self.client.create_multipart_upload(Bucket=bucket, Key=key, **extra))["UploadId"]
            try:
                parts: list[dict[str, Any]] = []
                while chunk := await asyncio.to_thread(fh.read, part_size):
                    number = len(parts) + 1
                    resp = await self.client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                                         PartNumber=number, Body=chunk)
                    parts.append({"ETag": resp["ETag"], "PartNumber": number})
                    del chunk  # freed before the next part is read: one part in memory at a time
                await self.client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                            MultipartUpload={"Parts": parts})
            except BaseException:
                try:
                    await self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
                except Exception as err:  # noqa: BLE001 - the upload's own failure is the one to raise
                    log.warning("could not abort multipart upload of s3://%s/%s: %s", bucket, key, err)
                raise

    async def get_bytes(self, bucket: str, key: str) -> bytes | None:
        """A small object's body, or ``None`` when absent."""
        found = await self._get(bucket, key)
        return None if found is None else found[0]

    async def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write a small object from memory."""
        extra = {"ContentType": content_type} if content_type else {}
        await self.client.put_object(Bucket=bucket, Key=key, Body=data, **extra)

    async def presigned_get(self, bucket: str, key: str, expires_seconds: int = 600) -> str:
        """A URL that reads ``key`` without credentials for ``expires_seconds``."""
        return str(await self.client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_seconds))

    async def delete(self, bucket: str, key: str) -> None:
        """Delete one object (absent is fine)."""
        await self.client.delete_object(Bucket=bucket, Key=key)

    async def stream(self, bucket: str, key: str) -> AsyncIterator[tuple[int, bytes]]:
        """An object's body in chunks, each with the object's ``ContentLength``
        (known before the first byte arrives, so a framing header can precede it)."""
        resp = await self.client.get_object(Bucket=bucket, Key=key)
        size = int(resp.get("ContentLength", 0))
        async with resp["Body"] as body:
            while chunk := await body.read(_CHUNK):
                yield size, chunk

