"""Packaging a CodeUri folder: deterministic zips, requirements.txt installed in and cached, handler checked."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra.sam import package as packaging
from infra.sam.package import PackagingError, package
from tests.support import write_wheel


def names(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_zip_is_deterministic_and_skips_caches(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "__pycache__").mkdir(parents=True)
    (src / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")
    (src / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (src / "lib").mkdir()
    (src / "lib" / "util.py").write_text("X = 1\n")
    first = package(src, "app.handler", tmp_path / "cache")
    (src / "app.py").touch()  # a new mtime, the same content: the same package
    assert package(src, "app.handler", tmp_path / "cache") == first
    assert names(first) == ["app.py", "lib/util.py"]


def test_requirements_are_installed_once_per_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    (src / "wheels").mkdir(parents=True)
    write_wheel(src / "wheels", "tinydep", "2.0")
    (src / "requirements.txt").write_text("--no-index\n--find-links wheels\ntinydep==2.0\n")
    (src / "app.py").write_text("import tinydep\n\ndef handler(e, c):\n    return tinydep.VERSION\n")
    data = package(src, "app.handler", tmp_path / "cache")
    assert "tinydep/__init__.py" in names(data) and "app.py" in names(data)
    assert zipfile.ZipFile(io.BytesIO(data)).read("tinydep/__init__.py") == b"VERSION = '2.0'\n"

    def no_pip(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pip ran again for unchanged requirements")

    monkeypatch.setattr(packaging.subprocess, "run", no_pip)
    assert package(src, "app.handler", tmp_path / "cache") == data


def test_pip_failure_and_missing_handler_module_are_clear(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("def handler(e, c):\n    return 1\n")
    with pytest.raises(PackagingError, match="names module 'main'"):
        package(src, "main.handler", tmp_path / "cache")
    (src / "requirements.txt").write_text("--no-index\nnot-a-package-anywhere==9\n")
    with pytest.raises(PackagingError, match="pip could not install"):
        package(src, "app.handler", tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").iterdir()]  # a failed install leaves nothing to reuse
