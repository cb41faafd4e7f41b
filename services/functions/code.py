"""A function's deployment package: checked, hashed, and unpacked once per code hash.

A zip is refused when an entry could land outside the folder it is
unpacked into (an absolute path, a ``..`` component, a drive letter) or is
a symbolic link, before anything is written. The handler's module must be
in the package (``module.py``, a package's ``__init__.py`` or an extension
module), as Lambda's runtime would otherwise fail every invocation with
``Runtime.ImportModuleError``. Unpacking goes to a temporary folder renamed
into place, so a tree under ``<root>/<sha256>`` is always complete.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from services.functions.exceptions import InvalidParameterValueException

#: Lambda's limit on a deployment package sent in the request (``ZipFile``), and on its unzipped size.
MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

_UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."
_unpack_lock = threading.Lock()


@dataclass(frozen=True)
class Package:
    """A checked deployment package."""

    data: bytes
    sha256_hex: str
    names: frozenset[str]

    @property
    def code_sha256(self) -> str:
        """``CodeSha256`` as Lambda reports it: the base64 SHA-256 of the zip."""
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode()

    @property
    def size(self) -> int:
        """``CodeSize``: the zip's bytes."""
        return len(self.data)


def _unsafe(info: zipfile.ZipInfo) -> str | None:
    """Why ``info`` may not be unpacked, or ``None``."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"entry {name!r} is a symbolic link"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"entry {name!r} has an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return f"entry {name!r} reaches outside the package ('..')"
    return None


def read_package(data: bytes) -> Package:
    """Check ``data`` as a deployment package.

    :raises InvalidParameterValueException: not a zip, an unsafe entry, or over Lambda's size limits.
    """
    if len(data) > MAX_ZIP_BYTES:
        raise InvalidParameterValueException(f"Zipped size must be smaller than {MAX_ZIP_BYTES} bytes")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as err:
        raise InvalidParameterValueException(f"{_UNZIP_ERROR} ({err})") from err
    for info in infos:
        if (reason := _unsafe(info)) is not None:
            raise InvalidParameterValueException(f"{_UNZIP_ERROR} The package is refused: {reason}.")
    if sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValueException(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")
    names = frozenset(i.filename.replace("\\", "/") for i in infos)
    return Package(data, hashlib.sha256(data).hexdigest(), names)


def check_handler(package: Package, handler: str) -> None:
    """The module ``handler`` (``module.function`` or ``folder/module.function``) is in ``package``.

    :raises InvalidParameterValueException: the handler names no function, or the module is missing.
    """
    module, dot, function = handler.rpartition(".")
    if not dot or not module or not function:
        raise InvalidParameterValueException(
            f"Handler {handler!r} is not valid: it must be <module>.<function>, e.g. app.handler")
    path = module.replace(".", "/")
    candidates = (f"{path}.py", f"{path}/__init__.py", f"{path}.pyc")
    if any(c in package.names for c in candidates):
        return
    parent, _, leaf = path.rpartition("/")
    prefix = f"{parent}/" if parent else ""
    if any(n.startswith(f"{prefix}{leaf}.") and n.endswith(".so") and "/" not in n[len(prefix):]
           for n in package.names):
        return  # an extension module: <module>.cpython-311-x86_64-linux-gnu.so
    raise InvalidParameterValueException(
        f"Handler {handler!r} names module {module!r}, but the deployment package has no {path}.py "
        f"(nor {path}/__init__.py)")


def unpack(package: Package, root: Path) -> Path:
    """The package's files under ``root/<sha256>``, unpacked now unless they are there already."""
    target = root / package.sha256_hex
    if target.is_dir():
        return target
    with _unpack_lock:  # one thread unpacks; the others find the tree in place
        if target.is_dir():
            return target
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{package.sha256_hex[:12]}-", dir=root))
        try:
            with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
                for info in archive.infolist():
                    if _unsafe(info) is not None:  # checked at upload; checked again before writing
                        raise InvalidParameterValueException(_UNZIP_ERROR)
                    dest = scratch / info.filename.replace("\\", "/")
                    if info.is_dir():
                        dest.mkdir(parents=True, exist_ok=True)
                        continue
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as src, dest.open("wb") as out:
                        shutil.copyfileobj(src, out)
                    mode = (info.external_attr >> 16) & 0o777
                    # Lambda makes every file readable; an executable bit in the zip is kept.
                    os.chmod(dest, (mode | 0o444) if mode else 0o644)
            scratch.rename(target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    return target
