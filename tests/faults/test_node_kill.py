"""A node SIGKILLed mid-training with an endpoint serving, then restarted on the same state folder: the job
is finished exactly once and the endpoint serves again, from the embedded emulator's kept state."""

from __future__ import annotations

from pathlib import Path

from tests.faults.node_restart import killed_node


def test_a_node_killed_mid_training_finishes_the_job_once_and_serves_again_after_a_restart(tmp_path: Path) -> None:
    out = killed_node(0, tmp_path)
    assert out.items_in == 2 and out.recover_s, out.notes
    assert (out.duplicated, out.lost, out.stuck) == (0, 0, 0), out.notes
    assert out.once == 2, out.notes
