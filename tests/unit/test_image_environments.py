"""Framework images on their own Python environments under the process runner (``.images/<image>``):
which interpreter a container gets, and that the node's libraries stay out of it."""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from services.runners import images
from services.runners.base import RunSpec
from services.runners.images import CONTAINERS_DIR, ContainerImage, image_environment
from services.runners.process import ProcessRunner


def _environment(root: Path, name: str, *, complete: bool = True) -> Path:
    """A real virtualenv standing in for an image's environment (without pip: nothing is installed)."""
    prefix = root / name
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    if complete:
        (prefix / ".installed").write_text("stamp\n")
    return prefix


async def _sys_path(runner: ProcessRunner, image: ContainerImage, root: Path) -> list[str]:
    """``sys.path`` of the container the runner starts for ``image`` (``python -m site`` prints it)."""
    spec = RunSpec(name="probe", image=image, command=[], ml_root=root)
    container = await runner.start(spec)
    lines = [line async for line in container.lines()]
    assert await container.wait() == 0, lines
    start = lines.index("sys.path = [")
    return [ast.literal_eval(line.strip().rstrip(",")) for line in lines[start + 1:lines.index("]", start)]]


# A stand-in container whose module is the standard library's `site`: it prints the interpreter's sys.path.
PROBE = ContainerImage(name="probe", module="site", image="headwater/probe:latest")


async def test_a_container_with_its_own_environment_runs_on_it_and_not_on_the_nodes_libraries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "ENVIRONMENTS_DIR", tmp_path / "envs")
    prefix = _environment(tmp_path / "envs", "probe")
    assert image_environment(PROBE) == prefix / "bin" / "python"
    path = await _sys_path(ProcessRunner(), PROBE, tmp_path)
    own_site = str(next((prefix / "lib").glob("python*/site-packages")))
    assert own_site in path
    assert str(CONTAINERS_DIR.parent) in path  # `python -m containers.<image>` finds the container's code
    node_site = sysconfig.get_paths()["purelib"]
    assert node_site not in path  # the node's libraries (its torch, its pandas) cannot clash with the image's


async def test_without_a_complete_environment_the_container_runs_on_the_nodes_python(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "ENVIRONMENTS_DIR", tmp_path / "envs")
    _environment(tmp_path / "envs", "probe", complete=False)  # an install that never finished
    assert image_environment(PROBE) is None
    path = await _sys_path(ProcessRunner(), PROBE, tmp_path)
    assert sysconfig.get_paths()["purelib"] in path


def test_interpreter_images_and_absent_environments_have_none(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "ENVIRONMENTS_DIR", tmp_path / "envs")
    _environment(tmp_path / "envs", "probe")
    assert image_environment(ContainerImage(name="", module="", image="mine:1", python=sys.executable)) is None
    assert image_environment(ContainerImage(name="kmeans", module="containers.kmeans", image="k")) is None
