"""What a Pipe-mode channel streams: RecordIO framing and augmented manifest lines.

``RecordWrapperType: RecordIO`` wraps each S3 object (``S3Prefix``,
``ManifestFile``) or each attribute of each augmented manifest line in one
RecordIO record, as SageMaker documents it::

    uint32 magic = 0xCED7230A (little-endian)
    uint32 length              (continuation flag 0: a whole record)
    payload, zero-padded to a multiple of 4 bytes

the same bytes the SageMaker Python SDK's ``_write_recordio`` writes.

An ``AugmentedManifestFile`` is JSON Lines; ``AttributeNames`` picks, in its
order, the attributes of each line to stream. An attribute whose name ends in
``-ref`` (``source-ref``) names an S3 object whose content is streamed; any
other attribute is streamed as its JSON value (``1``, ``"cat"``, ``{...}``).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from services.aws.s3 import parse_s3_uri
from services.core.exceptions import JobFailed, ValidationException

MAGIC = 0xCED7230A
MAX_RECORD = (1 << 29) - 1
_HEADER = struct.Struct("<II")


def recordio_header(length: int) -> bytes:
    """The 8-byte header of a whole record of ``length`` payload bytes."""
    if length > MAX_RECORD:
        raise ValueError(f"a record of {length} bytes exceeds RecordIO's {MAX_RECORD}-byte limit")
    return _HEADER.pack(MAGIC, length)


def recordio_padding(length: int) -> bytes:
    """The zero bytes that pad a payload of ``length`` bytes to a multiple of 4."""
    return b"\x00" * (-length % 4)


def wrap_record(payload: bytes) -> bytes:
    """``payload`` framed as one whole RecordIO record."""
    return recordio_header(len(payload)) + payload + recordio_padding(len(payload))


@dataclass(frozen=True)
class ObjectRef:
    """An attribute that names an S3 object: its content is the record."""

    bucket: str
    key: str
    where: str  # "<manifest> line <n> attribute <name>", for messages


@dataclass(frozen=True)
class InlineValue:
    """An attribute streamed as its own JSON value."""

    data: bytes


ManifestItem = ObjectRef | InlineValue


def is_reference(attribute: str) -> bool:
    """Whether ``attribute`` names an S3 object (SageMaker's ``-ref`` suffix)."""
    return attribute.endswith("-ref")


def manifest_line_items(line: bytes, number: int, attributes: list[str], uri: str) -> list[ManifestItem]:
    """The records of one augmented manifest line, in ``attributes`` order.

    A line that is not a JSON object, lacks an attribute, or has a ``-ref``
    attribute that is not an ``s3://`` URI fails the job naming the manifest,
    the line and the attribute.
    """
    where = f"augmented manifest {uri} line {number}"
    try:
        doc = json.loads(line)
    except ValueError as err:
        raise JobFailed(f"ClientError: {where} is not valid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise JobFailed(f"ClientError: {where} must be a JSON object")
    items: list[ManifestItem] = []
    for name in attributes:
        if name not in doc:
            raise JobFailed(f"ClientError: {where} has no attribute {name!r} (AttributeNames: {attributes})")
        value = doc[name]
        if is_reference(name):
            if not isinstance(value, str) or not value.startswith("s3://"):
                raise JobFailed(f"ClientError: {where} attribute {name!r} must be an s3:// URI, got {value!r}")
            try:
                bucket, key = parse_s3_uri(value)
            except ValidationException as err:
                raise JobFailed(f"ClientError: {where} attribute {name!r}: {err}") from None
            items.append(ObjectRef(bucket, key, f"{where} attribute {name!r}"))
        else:
            items.append(InlineValue(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()))
    return items
