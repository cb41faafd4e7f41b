"""``S3DataType: ManifestFile``: the objects a manifest names.

A manifest is a JSON array whose first element is ``{"prefix": "s3://bucket/path/"}``
and whose other elements are keys relative to that prefix (what the SageMaker
SDK's ``record_set()`` uploads). SageMaker copies each named object into the
channel directory under its relative key. The executor's channel download
uses :func:`read_manifest` in place of listing a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.core.exceptions import JobFailed


@dataclass(frozen=True)
class ManifestEntry:
    """One object a manifest names, and its path below the channel directory."""

    bucket: str
    key: str
    relative: str


def manifest_entries(doc: Any, uri: str) -> list[ManifestEntry]:
    """Validate a parsed manifest and list its objects; a malformed one fails the job naming ``uri``."""
    if not isinstance(doc, list) or not doc or not isinstance(doc[0], dict) or "prefix" not in doc[0]:
        raise JobFailed(f"ClientError: Manifest file {uri} must be a JSON array starting with "
                        '{"prefix": "s3://bucket/path/"}')
    prefix = doc[0]["prefix"]
    if not isinstance(prefix, str) or not prefix.startswith("s3://"):
        raise JobFailed(f"ClientError: Manifest file {uri}: the prefix {prefix!r} is not an s3:// URI")
    bucket, key_prefix = parse_s3_uri(prefix)
    entries = []
    for position, item in enumerate(doc[1:], start=2):
        if not isinstance(item, str) or not item.strip():
            raise JobFailed(f"ClientError: Manifest file {uri}: element {position} must be a non-empty key string")
        entries.append(ManifestEntry(bucket, key_prefix + item, item.lstrip("/")))
    if not entries:
        raise JobFailed(f"ClientError: Manifest file {uri} names no objects")
    return entries


async def read_manifest(s3: S3Adapter, uri: str) -> list[ManifestEntry]:
    """Fetch and parse the manifest at ``uri``."""
    bucket, key = parse_s3_uri(uri)
    try:
        found = await s3.get_json(bucket, key)
    except ValueError as err:
        raise JobFailed(f"ClientError: Manifest file {uri} is not valid JSON: {err}") from err
    if found is None:
        raise JobFailed(f"ClientError: Manifest file {uri} does not exist")
    return manifest_entries(found[0], uri)
