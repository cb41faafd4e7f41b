"""Shared fixtures."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.emulator import EmbeddedEmulator
from tests.support import NodeThread, free_port_settings

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A full node (embedded moto, control plane, runtime, worker) for a test module."""
    state: Path = tmp_path_factory.mktemp("node")
    n = NodeThread(free_port_settings(state)).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    """An embedded moto server alone (no node) for a test module: its endpoint URL."""
    emu = EmbeddedEmulator("127.0.0.1", 0)
    yield emu.start()
    emu.stop()
