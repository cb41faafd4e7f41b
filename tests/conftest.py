"""Shared fixtures."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import NodeThread, free_port_settings

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A full node (embedded moto, control plane, runtime, worker) for a test module."""
    state: Path = tmp_path_factory.mktemp("node")
    n = NodeThread(free_port_settings(state)).start()
    yield n
    n.stop()
