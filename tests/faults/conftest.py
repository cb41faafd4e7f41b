"""The fault suite's node: quick visibility timeouts, so the sweeps' grace (2x visibility) is short."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import NodeThread, free_port_settings


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A full node for a test module, with a 3 s visibility timeout (grace of the outbox sweeps: 6 s)."""
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("faults"), visibility_timeout=3)).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def bare_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A node without a worker of its own: the tests bring worker processes."""
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("faults-bare")), with_worker=False).start()
    yield n
    n.stop()
