"""Packaging a function's ``CodeUri`` as ``sam build`` does: the folder, its ``requirements.txt`` installed in.

The zip is deterministic (sorted entries, a fixed date, fixed modes), so an unchanged folder gives the same
``CodeSha256`` and a redeploy sees nothing to update. Dependencies are installed with ``pip install --target``
once per distinct ``requirements.txt`` (and Python), and reused from that cache afterwards.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from services.functions.code import check_handler, read_package
from services.functions.exceptions import InvalidParameterValueException

REQUIREMENTS = "requirements.txt"
_SKIP_DIRS = {"__pycache__", ".git", ".aws-sam", ".pytest_cache", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
_EPOCH = (1980, 1, 1, 0, 0, 0)


class PackagingError(ValueError):
    """A ``CodeUri`` that cannot be packaged: pip failed, or the handler's module is not in the package."""


def code_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that go into its package, sorted (caches and VCS folders left out)."""
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        out += [Path(root) / f for f in sorted(files) if not f.endswith(_SKIP_SUFFIXES)]
    return out


def _requirements(folder: Path) -> str | None:
    path = folder / REQUIREMENTS
    if not path.is_file():
        return None
    text = path.read_text()
    return text if any(line.strip() and not line.strip().startswith("#") for line in text.splitlines()) else None


def dependencies(folder: Path, cache: Path) -> Path | None:
    """The folder ``requirements.txt``'s packages are installed in (``None`` without requirements)."""
    text = _requirements(folder)
    if text is None:
        return None
    key = hashlib.sha256(f"{sys.version_info[:2]}\n{folder}\n{text}".encode()).hexdigest()[:20]
    target = cache / key
    if (target / ".complete").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache))
    # Run from the folder: relative paths in the requirements (-e ./lib, --find-links wheels/) are its own.
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                           "--quiet", "--target", str(work), "-r", REQUIREMENTS],
                          cwd=folder, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise PackagingError(f"pip could not install {folder / REQUIREMENTS}:\n{(proc.stderr or proc.stdout)[-2000:]}")
    (work / ".complete").write_text(text)
    try:
        work.rename(target)
    except OSError:  # another deploy finished the same install first: use theirs
        shutil.rmtree(work, ignore_errors=True)
    return target


def _add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, _EPOCH)
    info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes())


def package(code_uri: Path, handler: str, cache: Path) -> bytes:
    """The deployment package of ``code_uri`` (a folder, or a ``.zip`` used as it is), checked as Lambda checks
    one, with ``handler``'s module in it."""
    if code_uri.is_file():
        data = code_uri.read_bytes()
    else:
        deps = dependencies(code_uri, cache)
        entries: dict[str, Path] = {}
        if deps is not None:
            entries.update((p.relative_to(deps).as_posix(), p) for p in code_files(deps) if p.name != ".complete")
        entries.update((p.relative_to(code_uri).as_posix(), p) for p in code_files(code_uri))  # own files win
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            for name in sorted(entries):
                _add(archive, entries[name], name)
        data = buf.getvalue()
    try:
        check_handler(read_package(data), handler)
    except InvalidParameterValueException as err:
        raise PackagingError(f"{code_uri}: {err}") from err
    return data
