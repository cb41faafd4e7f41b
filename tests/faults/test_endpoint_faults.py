"""An endpoint instance whose connections to its inference container are reset under load: every request is
still answered (a request that met the reset is tried once more on a fresh connection)."""

from __future__ import annotations

from tests.faults.scenarios import reset_endpoint_connection
from tests.support import NodeThread


def test_a_connection_reset_on_an_endpoint_instance_loses_no_request(node: NodeThread) -> None:
    out = reset_endpoint_connection(node, 0, requests_after=20)
    assert out.items_in > 20 and out.recover_s, out.notes
    assert (out.lost, out.stuck) == (0, 0), out.notes
    assert out.once == out.items_in
