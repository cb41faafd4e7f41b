"""Images Headwater has no container for, each with the interpreter that stands in for it under the process
runner (the ``image_interpreters`` setting): how a job's image URI finds it, and how a job runs on it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from services.core.exceptions import PlatformError
from services.core.settings import Settings
from services.runners.base import RunSpec
from services.runners.images import resolve_image, untagged
from services.runners.process import ProcessRunner

MINE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-image"


@pytest.mark.parametrize(("uri", "expected"), [
    (f"{MINE}:1.0", MINE),
    (f"{MINE}@sha256:abc", MINE),
    (MINE, MINE),
    ("localhost:5000/team/my-image:2", "localhost:5000/team/my-image"),
    ("localhost:5000/team/my-image", "localhost:5000/team/my-image"),
])
def test_untagged_drops_only_the_tag_or_digest(uri: str, expected: str) -> None:
    assert untagged(uri) == expected


def test_an_interpreter_is_found_by_exact_uri_or_by_repository() -> None:
    interpreters = {MINE: "/envs/any/bin/python", f"{MINE}:pinned": "/envs/pinned/bin/python"}
    assert resolve_image(f"{MINE}:latest", interpreters).python == "/envs/any/bin/python"  # type: ignore[union-attr]
    assert resolve_image(f"{MINE}:pinned", interpreters).python == "/envs/pinned/bin/python"  # type: ignore[union-attr]
    image = resolve_image(f"{MINE}:latest", interpreters)
    assert image is not None and (image.name, image.module, image.image) == ("", "", f"{MINE}:latest")
    assert image.label == f"{MINE}:latest"
    assert resolve_image(f"{MINE}-other:1", interpreters) is None
    assert resolve_image(f"{MINE}:latest") is None  # no setting: no container


def test_headwaters_own_containers_keep_their_interpreter() -> None:
    xgboost = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    image = resolve_image(xgboost, {untagged(xgboost): "/envs/mine/bin/python"})
    assert image is not None and image.module == "containers.xgboost" and image.python is None


def test_the_setting_is_read_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_IMAGE_INTERPRETERS", json.dumps({MINE: "/envs/mine/bin/python"}))
    assert Settings().image_interpreters == {MINE: "/envs/mine/bin/python"}
    monkeypatch.delenv("HEADWATER_IMAGE_INTERPRETERS")
    assert Settings().image_interpreters == {}


def _spec(root: Path, python: str, entrypoint: list[str] | None) -> RunSpec:
    image = resolve_image(f"{MINE}:1", {MINE: python})
    assert image is not None
    return RunSpec(name="mine", image=image, command=[], ml_root=root, entrypoint=entrypoint)


async def test_a_job_on_an_interpreter_image_runs_its_entrypoint_with_that_python(tmp_path: Path) -> None:
    # A stand-in environment: a directory whose `python` is a link to an interpreter.
    env_bin = tmp_path / "env" / "bin"
    env_bin.mkdir(parents=True)
    (env_bin / "python").symlink_to(sys.executable)
    root = tmp_path / "job"
    root.mkdir()
    # `python` in the entrypoint's shell is the job's own environment over the named interpreter, as an
    # image's python would be (what the job pip-installs stays the job's): the job environment first on PATH,
    # the named interpreter's directory next.
    spec = _spec(root, str(env_bin / "python"), ["/bin/sh", "-c", "command -v python; echo \"$PATH\""])

    container = await ProcessRunner(python="/nonexistent/node/python").start(spec)
    lines = [line async for line in container.lines()]
    assert await container.wait() == 0, lines
    job_bin = root / ".python" / "bin"
    assert lines[0] == str(job_bin / "python")
    assert lines[1].split(os.pathsep)[:2] == [str(job_bin), str(env_bin)]


async def test_a_job_on_an_interpreter_image_needs_an_entrypoint_and_a_real_interpreter(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="runs only a job's own entrypoint"):
        await ProcessRunner().start(_spec(tmp_path, sys.executable, None))
    with pytest.raises(PlatformError, match="is not an executable file"):
        await ProcessRunner().start(_spec(tmp_path, str(tmp_path / "missing" / "python"), ["python", "-V"]))


def test_the_docker_runner_has_nothing_to_build_an_interpreter_image_from() -> None:
    import docker.errors

    from services.runners.docker import DockerRunner

    class Images:
        def get(self, name: str) -> None:
            raise docker.errors.ImageNotFound(name)

    class Engine:  # an engine that does not have the user's image
        images = Images()

    image = resolve_image(f"{MINE}:1", {MINE: sys.executable})
    assert image is not None
    with pytest.raises(PlatformError, match=r"is not in the engine .* under the process runner only"):
        DockerRunner()._ensure_image(Engine(), image)
