"""The node's AWS endpoint goes dark for 10 s while a job trains and another waits: both complete exactly once,
each state change reaches a rule once, and the control plane answers throughout (with an AWS error while the
endpoint is dark)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.scenarios import ResettingProxy, node_behind_proxy, unreachable_emulator
from tests.support import NodeThread


@pytest.fixture(scope="module")
def node_and_proxy(emulator: str, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[NodeThread, ResettingProxy]]:
    """A node that reaches the module's stand-alone emulator through a proxy the test can switch off."""
    with node_behind_proxy(tmp_path_factory.mktemp("faults-dark"), emulator) as pair:
        yield pair


def test_jobs_complete_once_when_the_aws_endpoint_is_unreachable_for_10_s(
        node_and_proxy: tuple[NodeThread, ResettingProxy]) -> None:
    node, proxy = node_and_proxy
    out = unreachable_emulator(node, proxy, 0)
    assert out.items_in > 2, out.notes  # the two jobs, and the DescribeTrainingJob calls sent while dark
    assert (out.duplicated, out.lost, out.stuck) == (0, 0, 0), out.notes
    assert out.once == out.items_in
