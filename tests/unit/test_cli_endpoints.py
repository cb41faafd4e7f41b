"""The CLI finds the running node through endpoints.json, and not a dead node's leftover."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.cli.endpoints import NodeNotRunning, read_endpoints


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_running_nodes_endpoints_are_read(tmp_path: Path) -> None:
    (tmp_path / "endpoints.json").write_text(json.dumps({"aws": "http://127.0.0.1:4566", "pid": os.getpid()}))
    assert read_endpoints(tmp_path)["aws"] == "http://127.0.0.1:4566"


def test_a_killed_nodes_leftover_file_says_the_node_is_not_running(tmp_path: Path) -> None:
    pid = _dead_pid()
    (tmp_path / "endpoints.json").write_text(json.dumps({"aws": "http://127.0.0.1:4566", "pid": pid}))
    with pytest.raises(NodeNotRunning, match=rf"written by a node \(pid {pid}\) that is no longer running"):
        read_endpoints(tmp_path)


def test_no_file_says_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(NodeNotRunning, match="start Headwater with `headwater up` first"):
        read_endpoints(tmp_path)
