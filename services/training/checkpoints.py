"""``CheckpointConfig``: checkpoints restored before a host starts (synced while it runs by
:class:`services.execution.s3_sync.CheckpointSync`).

SageMaker copies ``S3Uri`` into ``LocalPath`` (default ``/opt/ml/checkpoints``)
before the container starts, and uploads new or changed files from
``LocalPath`` to ``S3Uri`` while the job runs and once more at its end, so an
interrupted job resumes from its last checkpoint.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.inputs.channels import relative_key, safe_destination
from services.training.models import CheckpointConfig

DEFAULT_LOCAL_PATH = "/opt/ml/checkpoints"


def local_dir(root: Path, config: CheckpointConfig) -> Path:
    """Where ``LocalPath`` lies in a host tree (paths outside ``/opt/ml`` map to ``checkpoints``)."""
    path = PurePosixPath(config.local_path or DEFAULT_LOCAL_PATH)
    try:
        rel = path.relative_to("/opt/ml")
    except ValueError:
        rel = PurePosixPath("checkpoints")
    return safe_destination(root, str(rel)) if str(rel) != "." else root / "checkpoints"


async def restore(s3: S3Adapter, config: CheckpointConfig, dest: Path) -> int:
    """Copy every checkpoint under ``S3Uri`` into ``dest``; return how many files."""
    bucket, prefix = parse_s3_uri(config.s3_uri)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    async for obj in s3.list_objects(bucket, prefix):
        if obj.key.endswith("/"):
            continue
        await s3.download_file(bucket, obj.key, safe_destination(dest, relative_key(prefix, obj.key)))
        count += 1
    return count
