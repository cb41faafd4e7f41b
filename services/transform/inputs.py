"""The objects a transform job reads, and where each one's output goes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.core.exceptions import JobFailed
from services.inputs.channels import relative_key
from services.transform.models import TransformJob


@dataclass(frozen=True)
class InputObject:
    """One input object and its output key."""

    bucket: str
    key: str
    relative: str  # path below the input prefix: names the output object

    @property
    def uri(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"


async def list_inputs(s3: S3Adapter, job: TransformJob) -> list[InputObject]:
    """Objects under an ``S3Prefix``, or those a ``ManifestFile`` lists."""
    source = job.transform_input.data_source.s3_data_source
    bucket, prefix = parse_s3_uri(source.s3_uri)
    if source.s3_data_type == "S3Prefix":
        found = [InputObject(bucket, o.key, relative_key(prefix, o.key))
                 async for o in s3.list_objects(bucket, prefix) if not o.key.endswith("/")]
    elif source.s3_data_type == "ManifestFile":
        found = await _manifest(s3, bucket, prefix, source.s3_uri)
    else:
        raise JobFailed(f"S3DataType {source.s3_data_type} is not supported for transform input")
    if not found:
        raise JobFailed(f"ClientError: No S3 objects found under S3 URL \"{source.s3_uri}\"")
    for obj in found:  # output keys come from input keys: they must stay below the output path
        parts = PurePosixPath(obj.relative).parts
        if PurePosixPath(obj.relative).is_absolute() or ".." in parts:
            raise JobFailed(f"ClientError: input {obj.uri} would write its output outside the S3OutputPath")
    return found


async def _manifest(s3: S3Adapter, bucket: str, key: str, uri: str) -> list[InputObject]:
    doc = await s3.get_json(bucket, key)
    if doc is None:
        raise JobFailed(f"ClientError: the manifest {uri} does not exist")
    entries = doc[0]
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict) or "prefix" not in entries[0]:
        raise JobFailed(f"ClientError: the manifest {uri} must be a JSON list starting with {{\"prefix\": ...}}")
    base_bucket, base_prefix = parse_s3_uri(entries[0]["prefix"])
    out = []
    for n, rel in enumerate(entries[1:], start=2):
        if not isinstance(rel, str):
            raise JobFailed(f"ClientError: manifest {uri} entry {n} is not a string")
        out.append(InputObject(base_bucket, base_prefix + rel, rel))
    return out


def output_key(job: TransformJob, obj: InputObject) -> tuple[str, str]:
    """``(bucket, key)`` of the object's output: its relative path plus ``.out``."""
    bucket, prefix = parse_s3_uri(job.transform_output.s3_output_path)
    prefix = prefix.rstrip("/")
    return bucket, f"{prefix}/{obj.relative}.out".lstrip("/")

