"""Fetching a script-mode job's code: ``sagemaker_submit_directory``.

The SageMaker Python SDK uploads ``source_dir`` (or the lone entry point) as
``sourcedir.tar.gz`` and names it in the JSON-encoded
``sagemaker_submit_directory`` hyperparameter: its S3 URI, or, for a job with
``EnableNetworkIsolation`` (whose container cannot reach S3), its path inside
the container, ``/opt/ml/input/data/code/sourcedir.tar.gz``, the SDK adding a
``code`` input channel that brings it there. The platform unpacks it into the
host's ``/opt/ml/code`` before the container starts, from S3 or from the
channel's download in the host tree (a path that would leave its channel
directory, by ``..`` or a link, fails the job). The archive is the user's:
members that would land outside the code directory (absolute paths, ``..``,
links pointing out, devices) fail the job instead of being written.
"""

from __future__ import annotations

import asyncio
import json
import tarfile
from pathlib import Path, PurePosixPath

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.core.exceptions import JobFailed, ValidationException

PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
# Where the container sees its input channels: a submit directory under it is read from a channel.
CHANNELS_DIR = PurePosixPath("/opt/ml/input/data")


def _decoded(value: str) -> str:
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


def submit_directory(hyperparameters: dict[str, str] | None) -> str | None:
    """The job's ``sagemaker_submit_directory``, decoded; ``None`` when absent."""
    raw = (hyperparameters or {}).get(SUBMIT_DIRECTORY)
    return _decoded(raw) if raw else None


def is_script_mode(hyperparameters: dict[str, str] | None) -> bool:
    """Whether the job names a user entry point (framework script mode)."""
    return PROGRAM in (hyperparameters or {})


def check_members(archive: tarfile.TarFile) -> None:
    """Refuse any member that would escape the extraction directory."""
    for member in archive.getmembers():
        path = PurePosixPath(member.name)
        bad = path.is_absolute() or ".." in path.parts
        if member.issym() or member.islnk():
            target = PurePosixPath(member.linkname)
            bad = bad or target.is_absolute() or ".." in (path.parent / target).parts
        if member.isdev():
            bad = True
        if bad:
            raise JobFailed(f"ClientError: sourcedir.tar.gz member {member.name!r} would be extracted outside "
                            f"the code directory; the archive is refused")


def extract(tar_path: Path, dest: Path) -> None:
    """Unpack ``tar_path`` into ``dest`` after checking every member."""
    try:
        with tarfile.open(tar_path, "r:*") as archive:
            check_members(archive)
            archive.extractall(dest, filter="data")  # the stdlib's own guard, on top of ours
    except (tarfile.TarError, OSError) as err:
        raise JobFailed(f"ClientError: could not unpack the submitted source directory: {err}") from err


def channel_file(submit: str, code_dir: Path) -> Path:
    """The host file of a submit directory given as a path in an input channel (``/opt/ml/input/data/<channel>/
    ...``), ``code_dir`` being the host's ``/opt/ml/code``; it must stay inside its channel's directory."""
    path = PurePosixPath(submit)
    if not path.is_relative_to(CHANNELS_DIR):
        raise JobFailed(f"ClientError: {SUBMIT_DIRECTORY} must be an S3 URI of a sourcedir.tar.gz, or a file in "
                        f"an input channel ({CHANNELS_DIR}/<channel>/...); got {submit!r}")
    parts = path.relative_to(CHANNELS_DIR).parts
    outside = JobFailed(f"ClientError: {SUBMIT_DIRECTORY} {submit!r} must name a file inside one of the job's "
                        f"input channels ({CHANNELS_DIR}/<channel>/...)")
    if len(parts) < 2 or ".." in parts:
        raise outside
    channel = code_dir.parent / "input/data" / parts[0]
    host = channel.joinpath(*parts[1:])
    if not host.exists() and not host.is_symlink():
        raise JobFailed(f"ClientError: {SUBMIT_DIRECTORY} {submit!r} is not in the job's input channel "
                        f"{parts[0]!r} (a File mode channel holding the archive)")
    if not host.resolve().is_relative_to(channel.resolve()) or not host.resolve().is_file():
        raise outside  # a link in the channel pointing out of it, or not a file
    return host


async def fetch_source(s3: S3Adapter, hyperparameters: dict[str, str] | None, code_dir: Path) -> bool:
    """Unpack the job's code into ``code_dir`` (downloaded from S3, or read from an input channel of the host
    tree ``code_dir`` lies in); False when the job has none."""
    uri = submit_directory(hyperparameters)
    if not uri:
        return False
    if not uri.startswith("s3://"):
        archive = channel_file(uri, code_dir)
        code_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(extract, archive.resolve(), code_dir)
        return True
    try:
        bucket, key = parse_s3_uri(uri)
    except ValidationException as err:
        raise JobFailed(f"ClientError: {SUBMIT_DIRECTORY} must be an S3 URI of a sourcedir.tar.gz; "
                        f"got {uri!r}") from err
    archive = code_dir.parent / "sourcedir.tar.gz"
    try:
        await s3.download_file(bucket, key, archive)
    except Exception as err:  # noqa: BLE001 - any failure to read it is the job's reason
        raise JobFailed(f"ClientError: could not download the source directory {uri}: {err}") from err
    code_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(extract, archive, code_dir)
    archive.unlink(missing_ok=True)
    return True
