"""The AWS event stream encoding (``application/vnd.amazon.eventstream``) of a streamed runtime answer.

``InvokeEndpointWithResponseStream`` answers with a sequence of binary messages: a prelude (the message's
and its headers' lengths, then a CRC32 of those eight bytes), string headers (``:message-type``,
``:event-type``, ``:content-type``), the payload, and a CRC32 of everything before it. The stream ends
where the HTTP body ends. botocore's ``EventStream`` decodes it into ``{"PayloadPart": {"Bytes": ...}}``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

EVENT_STREAM = "application/vnd.amazon.eventstream"
PAYLOAD_PART = "PayloadPart"
_STRING = 7  # the header value type of a UTF-8 string
_PRELUDE = struct.Struct("!II")
_CRC = struct.Struct("!I")


def _header(name: str, value: str) -> bytes:
    key, data = name.encode("utf-8"), value.encode("utf-8")
    return bytes([len(key)]) + key + bytes([_STRING]) + struct.pack("!H", len(data)) + data


def event_message(event_type: str, payload: bytes, content_type: str = "application/octet-stream") -> bytes:
    """One ``event`` message of ``event_type`` carrying ``payload``."""
    headers = (_header(":message-type", "event") + _header(":event-type", event_type)
               + _header(":content-type", content_type))
    total = _PRELUDE.size + _CRC.size + len(headers) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total, len(headers))
    message = prelude + _CRC.pack(zlib.crc32(prelude)) + headers + payload
    return message + _CRC.pack(zlib.crc32(message))


def payload_parts(parts: Iterable[bytes]) -> bytes:
    """A ``PayloadPart`` event for each non-empty part, in order: the whole stream's body."""
    return b"".join(event_message(PAYLOAD_PART, part) for part in parts if part)
