"""The container tier: a real OCI engine (podman's Docker API), set up by the tier itself.

``containers/engine/setup.sh`` (also a prerequisite of ``make test``) installs
and configures the engine; a failure there fails every test here loudly
rather than skipping the tier. The engine's API service runs for the session
on a private socket and is stopped by its pid.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from containers.engine.images import algorithm_image
from containers.engine.service import EngineService, ensure_setup
from tests.support import NodeThread, free_port_settings


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Docker API URL of a running engine; ``DOCKER_HOST`` points at it for the session."""
    ensure_setup()  # raises EngineError with the set-up's output: never a skip
    service = EngineService(tmp_path_factory.mktemp("engine") / "api.sock")
    url = service.start()
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = url
    try:
        yield url
    finally:
        service.stop()
        if previous is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = previous


# Images a test module needs unless it declares ``IMAGES = ("<container folder>", ...)``.
DEFAULT_IMAGES = ("xgboost", "kmeans")
_built: dict[str, str] = {}


@pytest.fixture(scope="module")
def images(request: pytest.FixtureRequest, engine: str) -> dict[str, str]:
    """Test images of the module's algorithms, built (once per session) from the current code."""
    for name in getattr(request.module, "IMAGES", DEFAULT_IMAGES):
        if name not in _built:
            _built[name] = algorithm_image(name)
    return dict(_built)


def start_node(state: Path, runner: str, **overrides: Any) -> NodeThread:
    """A full node whose worker runs containers with ``runner`` (and other settings from ``overrides``)."""
    return NodeThread(free_port_settings(state, runner=runner, worker_concurrency=2, **overrides)).start()


@pytest.fixture(scope="module", params=["process", "docker"])
def runner_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """The same node under each runner: every test using it runs twice. A module that looks into ended jobs'
    trees says so with ``KEEP_JOB_TREES = True``."""
    if request.param == "docker":
        request.getfixturevalue("images")
    node = start_node(tmp_path_factory.mktemp(f"node-{request.param}"), request.param,
                      keep_job_trees=getattr(request.module, "KEEP_JOB_TREES", False))
    yield node
    node.stop()
