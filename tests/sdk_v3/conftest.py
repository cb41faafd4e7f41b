"""Fixtures shared by the SDK v3 stories."""

from __future__ import annotations

import pytest

from infra.cli.endpoints import env_exports, read_endpoints
from tests.sdk_v3.support import exported, v3_environment
from tests.support import NodeThread


@pytest.fixture(scope="module")
def shell(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The user's shell after ``eval "$(headwater env)"`` against this module's node."""
    exports = exported(env_exports(read_endpoints(node.settings.state_dir)))
    return v3_environment(exports, tmp_path_factory.mktemp("sdk-v3-home"))
