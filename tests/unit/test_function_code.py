"""Deployment packages: unsafe zips are refused before anything is written; the handler's module must be there."""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import zipfile
from pathlib import Path

import pytest

from services.functions.code import check_handler, read_package, unpack
from services.functions.exceptions import InvalidParameterValueException


def _zip(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
    return buf.getvalue()


@pytest.mark.parametrize("name, reason", [
    ("../escape.py", "'..'"),
    ("lib/../../escape.py", "'..'"),
    ("lib\\..\\..\\escape.py", "'..'"),
    ("/etc/cron.d/evil", "absolute path"),
    ("\\windows\\evil", "absolute path"),
    ("C:/evil.py", "absolute path"),
])
def test_entries_that_leave_the_folder_are_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidParameterValueException) as err:
        read_package(_zip({"app.py": b"", name: b"x"}))
    assert reason in err.value.message


def test_a_link_is_refused() -> None:
    with pytest.raises(InvalidParameterValueException, match="symbolic link"):
        read_package(_zip({"app.py": b""}, links={"data": "/etc"}))


def test_not_a_zip() -> None:
    with pytest.raises(InvalidParameterValueException, match="Could not unzip"):
        read_package(b"PK\x03\x04 but no more")


@pytest.mark.parametrize("entries, handler", [
    ({"app.py": b""}, "app.handler"),
    ({"pkg/__init__.py": b""}, "pkg.handler"),
    ({"src/app.py": b""}, "src/app.handler"),
    ({"pkg/mod.py": b""}, "pkg.mod.handler"),
    ({"fast.cpython-311-x86_64-linux-gnu.so": b""}, "fast.handler"),
])
def test_the_handlers_module_is_found(entries: dict[str, bytes], handler: str) -> None:
    check_handler(read_package(_zip(entries)), handler)


@pytest.mark.parametrize("handler, message", [
    ("missing.handler", "no missing.py"),
    ("handler", "<module>.<function>"),
    ("app.", "<module>.<function>"),
    ("lib.app.handler", "no lib/app.py"),
])
def test_a_handler_naming_no_module_is_refused(handler: str, message: str) -> None:
    with pytest.raises(InvalidParameterValueException, match=message.replace(".", r"\.")):
        check_handler(read_package(_zip({"app.py": b"", "lib/other.py": b""})), handler)


def test_a_package_is_unpacked_once(tmp_path: Path) -> None:
    package = read_package(_zip({"app.py": b"print(1)\n", "data/words.txt": b"a b"}))
    first = unpack(package, tmp_path)
    assert first.name == package.sha256_hex
    assert (first / "data" / "words.txt").read_bytes() == b"a b"
    marker = first / "app.py"
    before = marker.stat().st_ino
    assert unpack(package, tmp_path) == first and marker.stat().st_ino == before
    assert [p.name for p in tmp_path.iterdir()] == [package.sha256_hex]  # no scratch folder left behind


def test_code_sha256_is_lambdas_base64_digest() -> None:
    data = _zip({"app.py": b""})
    assert read_package(data).code_sha256 == base64.b64encode(hashlib.sha256(data).digest()).decode()
