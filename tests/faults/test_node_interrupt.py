"""Ctrl-C to ``headwater up`` while an endpoint captures every request under load: the node exits cleanly on
its own, and every request it answered is in the capture in S3 exactly once."""

from __future__ import annotations

from pathlib import Path

from tests.faults.node_interrupt import interrupted_node


def test_ctrl_c_to_a_node_under_capture_load_captures_every_answered_request_once(emulator: str,
                                                                                  tmp_path: Path) -> None:
    out, code = interrupted_node(emulator, 0, tmp_path / "state")
    assert code == 0, out.notes  # Ctrl-C's clean exit, on its own within the wait
    assert out.items_in > 40 and out.recover_s, out.notes
    assert (out.duplicated, out.lost, out.stuck) == (0, 0, 0), out.notes
    assert out.once == out.items_in, out.notes
