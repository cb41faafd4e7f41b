"""Pipe-mode channels of one host: what each streams, and the feeds that stream it.

A channel is in Pipe mode when its ``InputMode`` (else the job's
``TrainingInputMode``) is ``Pipe``. Its objects are listed (and sharded)
before the container starts, like a File-mode download, so a channel that
matches nothing fails the job at Downloading. Each epoch then streams them
from S3 in key order: gzip is decompressed on the fly (``CompressionType:
Gzip``), and ``RecordWrapperType: RecordIO`` frames each object (or each
augmented manifest attribute) as one record. Only a gzipped object that must
also be framed is held before it is written (its decompressed length heads
the record): in memory up to a bound, then in a temporary file.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from services.aws.s3 import S3Adapter, S3Object, parse_s3_uri
from services.core.exceptions import JobFailed
from services.inputs.inflate import GzipError, Inflater
from services.inputs.pipe.feed import PipeSourceError
from services.inputs.pipe.records import ManifestItem, ObjectRef, manifest_line_items, recordio_header, recordio_padding

_SPOOL_IN_MEMORY = 32 << 20


def _client_error(err: ClientError) -> str:
    info = err.response.get("Error", {})
    return f"{info.get('Code', 'Error')} ({info.get('Message', '')})".strip()


@dataclass
class ChannelStream:
    """What one Pipe channel streams each epoch, for one host."""

    s3: S3Adapter
    channel: str
    gzip: bool
    wrap: bool
    objects: list[S3Object] = field(default_factory=list)
    manifest_uri: str | None = None
    attributes: list[str] = field(default_factory=list)
    shard: tuple[int, int] | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """One epoch's bytes."""
        if self.manifest_uri is not None:
            async for chunk in self._manifest():
                yield chunk
            return
        for obj in self.objects:
            async for chunk in self._object(obj.bucket, obj.key, f"s3://{obj.bucket}/{obj.key}"):
                yield chunk

    async def _object(self, bucket: str, key: str, what: str) -> AsyncIterator[bytes]:
        """One object, decompressed and framed as the channel says."""
        try:
            if self.wrap and self.gzip:
                async for chunk in self._spooled(bucket, key, what):
                    yield chunk
                return
            inflate = Inflater() if self.gzip else None
            size: int | None = None
            async for content_length, raw in self.s3.stream(bucket, key):
                if size is None:
                    size = content_length
                    if self.wrap:  # the length is known before the body: the header goes first
                        yield recordio_header(size)
                data = inflate.feed(raw) if inflate else raw
                if data:
                    yield data
            if inflate:
                yield inflate.finish()
            if self.wrap:
                if size is None:  # an empty object is an empty record
                    size = 0
                    yield recordio_header(0)
                yield recordio_padding(size)
        except GzipError as err:
            if err.truncated:
                raise PipeSourceError(f"ClientError: {what} ends inside its gzip data (truncated)") from None
            raise PipeSourceError(f"ClientError: {what} is not valid gzip data ({err}); the channel's "
                                  f"CompressionType is Gzip") from None
        except ClientError as err:
            raise PipeSourceError(f"ClientError: Channel {self.channel}: could not stream {what}: "
                                  f"{_client_error(err)}") from None
        except ValueError as err:  # a record over RecordIO's limit
            raise PipeSourceError(f"ClientError: Channel {self.channel}: {what}: {err}") from None

    async def _spooled(self, bucket: str, key: str, what: str) -> AsyncIterator[bytes]:
        inflate = Inflater()
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            async for _, raw in self.s3.stream(bucket, key):
                spool.write(inflate.feed(raw))
            spool.write(inflate.finish())
            length = spool.tell()
            spool.seek(0)
            yield recordio_header(length)
            while block := spool.read(1 << 20):
                yield block
            yield recordio_padding(length)

    async def _manifest(self) -> AsyncIterator[bytes]:
        assert self.manifest_uri is not None
        bucket, key = parse_s3_uri(self.manifest_uri)
        buffered = b""
        number = 0
        try:
            async for _, raw in self.s3.stream(bucket, key):
                buffered += raw
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    number += 1
                    async for chunk in self._manifest_line(line, number):
                        yield chunk
            if buffered.strip():
                async for chunk in self._manifest_line(buffered, number + 1):
                    yield chunk
        except ClientError as err:
            raise PipeSourceError(f"ClientError: Channel {self.channel}: could not read the augmented manifest "
                                  f"{self.manifest_uri}: {_client_error(err)}") from None

    async def _manifest_line(self, line: bytes, number: int) -> AsyncIterator[bytes]:
        if not line.strip():
            return
        if self.shard is not None and (number - 1) % self.shard[1] != self.shard[0]:
            return
        try:
            items: list[ManifestItem] = manifest_line_items(line, number, self.attributes, self.manifest_uri or "")
        except JobFailed as err:
            raise PipeSourceError(f"Channel {self.channel}: {err}") from None
        for item in items:
            if isinstance(item, ObjectRef):
                async for chunk in self._object(item.bucket, item.key, f"s3://{item.bucket}/{item.key} "
                                                                       f"({item.where})"):
                    yield chunk
            elif self.wrap:
                yield recordio_header(len(item.data)) + item.data + recordio_padding(len(item.data))
            else:
                yield item.data
